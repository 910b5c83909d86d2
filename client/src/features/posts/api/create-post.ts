import { useMutation, useQueryClient } from "@tanstack/react-query";
import { z } from "zod";

import { apiClient } from "@/lib/api-client";

import { postsQueryKey } from "./get-posts";
import {
  addOptimisticPost,
  type CreatedPost,
  type FeedPost,
} from "./posts-cache";

const createdPostSchema: z.ZodType<CreatedPost> = z.object({
  id: z.string(),
  title: z.string(),
  created_at: z.string(),
});

export type CreatePostInput = { title: string };

/** Creates a post. The server trims the title and checks its length. */
export function createPost({ title }: CreatePostInput): Promise<CreatedPost> {
  return apiClient.post("/posts/create", { title }, createdPostSchema);
}

/**
 * Creates a post and shows it at the top of the list at once. The list's
 * polling replaces it with the query service's copy once that has it.
 */
export function useCreatePost() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createPost,
    onSuccess: (created) => {
      queryClient.setQueryData<FeedPost[]>(postsQueryKey, (posts) =>
        addOptimisticPost(posts, created),
      );
    },
  });
}
