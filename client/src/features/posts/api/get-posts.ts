import { queryOptions, useQuery } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { z } from "zod";

import { env } from "@/config/env";
import { apiClient } from "@/lib/api-client";
import {
  useBackoffPolling,
  type BackoffDelays,
} from "@/lib/use-backoff-polling";
import { useEventStream } from "@/lib/use-event-stream";
import { commentSchema } from "@/types/api";

import {
  isUnsettled,
  mergeWithOptimistic,
  optimisticIds,
  type FeedPost,
  type Post,
} from "./posts-cache";

/** Number of posts in one page of the list. */
export const POSTS_LIMIT = 50;

/**
 * Reports whether older posts may follow the `pages` pages shown: the
 * server filled every page.
 */
export function mayHaveOlder(posts: FeedPost[], pages: number): boolean {
  const listed = posts.filter((post) => post.optimistic !== true).length;
  return listed >= pages * POSTS_LIMIT;
}

/** Poll delays while a comment awaits moderation or a write is not listed. */
export const POLL_DELAYS: BackoffDelays = { initialMs: 500, maxMs: 5000 };

// Go encodes a nil slice as null, so an empty list may arrive as null.
const postSchema = z.object({
  id: z.string(),
  title: z.string(),
  created_at: z.string(),
  comments: z
    .array(commentSchema)
    .nullable()
    .transform((comments) => comments ?? []),
});

const postsSchema: z.ZodType<Post[]> = z
  .array(postSchema)
  .nullable()
  .transform((posts) => posts ?? []);

export const postsQueryKey = ["posts", { limit: POSTS_LIMIT }] as const;

/**
 * Fetches one page of posts with their comments from the query service:
 * the newest, or those older than the post `before`.
 */
export function getPosts(
  signal?: AbortSignal,
  before?: string,
): Promise<Post[]> {
  const cursor =
    before === undefined ? "" : `&before=${encodeURIComponent(before)}`;
  return apiClient.get(
    `/posts?limit=${POSTS_LIMIT}${cursor}`,
    postsSchema,
    signal,
  );
}

/**
 * Fetches up to `pages` pages, each after the last post of the one
 * before, and stops at a page that is not full, the end of the list.
 */
export async function getPostPages(
  pages: number,
  signal?: AbortSignal,
): Promise<Post[]> {
  const posts: Post[] = [];
  for (let page = 0; page < pages; page++) {
    const before = page === 0 ? undefined : posts[posts.length - 1].id;
    const next = await getPosts(signal, before);
    posts.push(...next);
    if (next.length < POSTS_LIMIT) {
      break;
    }
  }
  return posts;
}

/** Options of the post list query showing `pages` pages. */
export function getPostsQueryOptions(pages = 1) {
  return queryOptions({
    queryKey: postsQueryKey,
    queryFn: async ({ client, signal }): Promise<FeedPost[]> => {
      const posts = await getPostPages(pages, signal);
      // Read the cache after the response arrives, so an entry added by a
      // POST that finished during this request is kept too.
      return mergeWithOptimistic(
        posts,
        client.getQueryData<FeedPost[]>(postsQueryKey),
      );
    },
  });
}

/** Server-sent events from the query service, one per read-model change. */
export const POSTS_EVENTS_URL = `${env.apiUrl}/posts/events`;

/**
 * Returns the cached post list, `pages` pages long. The query keeps one
 * cache entry whatever the number of pages, so the optimistic updates of
 * new posts and comments find it. A change of `pages` fetches again.
 *
 * It fetches GET /posts again on each "changed" event that the query
 * service pushes. In case the push channel is slow or cut, it also polls
 * with backoff while the list is unsettled. Polling stops once every
 * comment is moderated and every just-created entry is listed. It
 * restarts from the first delay whenever the set of unlisted entries
 * changes, as after a new write.
 */
export function usePosts(delays: BackoffDelays = POLL_DELAYS, pages = 1) {
  const query = useQuery(getPostsQueryOptions(pages));
  const { refetch } = query;
  const fetchedPages = useRef(pages);
  useEffect(() => {
    if (fetchedPages.current !== pages) {
      fetchedPages.current = pages;
      void refetch();
    }
  }, [pages, refetch]);
  useEventStream(POSTS_EVENTS_URL, "changed", () => {
    void query.refetch();
  });
  useBackoffPolling(
    isUnsettled(query.data),
    query.refetch,
    optimisticIds(query.data),
    delays,
  );
  return query;
}
