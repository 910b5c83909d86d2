import { queryOptions, useQuery } from "@tanstack/react-query";
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

/** Number of newest posts the page lists. */
export const POSTS_LIMIT = 50;

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

/** Fetches the newest posts with their comments from the query service. */
export function getPosts(signal?: AbortSignal): Promise<Post[]> {
  return apiClient.get(`/posts?limit=${POSTS_LIMIT}`, postsSchema, signal);
}

export function getPostsQueryOptions() {
  return queryOptions({
    queryKey: postsQueryKey,
    queryFn: async ({ client, signal }): Promise<FeedPost[]> => {
      const posts = await getPosts(signal);
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
 * Returns the cached post list. It fetches GET /posts again on each
 * "changed" event that the query service pushes, and, in case the push
 * channel is slow or cut, polls with backoff while the list is unsettled.
 * Polling stops once every comment is moderated and every just-created
 * entry is listed. It restarts from the first delay whenever the set of
 * unlisted entries changes, as after a new write.
 */
export function usePosts(delays: BackoffDelays = POLL_DELAYS) {
  const query = useQuery(getPostsQueryOptions());
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
