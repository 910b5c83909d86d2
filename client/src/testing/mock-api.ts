import { http, HttpResponse } from "msw";

import type { Comment } from "@/types/api";

/** A post as the mocked GET /posts returns it. */
export type MockPost = {
  id: string;
  title: string;
  created_at: string;
  comments: Comment[];
};

let nextId = 1;

/** Builds a post with a unique id; fields given override the defaults. */
export function makePost(fields: Partial<MockPost> = {}): MockPost {
  const id = `00000000-0000-7000-8000-${String(nextId++).padStart(12, "0")}`;
  return {
    id,
    title: `Post ${id}`,
    created_at: "2026-12-04T10:00:00Z",
    comments: [],
    ...fields,
  };
}

/** Builds the API's error body. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** Handles GET /posts by returning what `posts` returns at request time. */
export function listPosts(posts: () => MockPost[]) {
  return http.get("/posts", () => HttpResponse.json(posts()));
}
