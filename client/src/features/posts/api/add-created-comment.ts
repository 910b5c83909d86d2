import { useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";

import type { CreatedComment } from "@/types/api";

import { postsQueryKey } from "./get-posts";
import { addOptimisticComment, type FeedPost } from "./posts-cache";

/**
 * Returns a callback that shows a just-created comment under its post at
 * once, as pending. The list's polling replaces it with the query
 * service's copy, and its moderated status, once that has it.
 */
export function useAddCreatedComment(): (comment: CreatedComment) => void {
  const queryClient = useQueryClient();
  return useCallback(
    (comment) => {
      queryClient.setQueryData<FeedPost[]>(postsQueryKey, (posts) =>
        addOptimisticComment(posts, comment),
      );
    },
    [queryClient],
  );
}
