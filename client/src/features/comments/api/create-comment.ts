import { useMutation } from "@tanstack/react-query";

import { apiClient } from "@/lib/api-client";
import { createdCommentSchema, type CreatedComment } from "@/types/api";

export type CreateCommentInput = { postId: string; content: string };

/**
 * Creates a comment with status pending, which moderation changes later.
 * The server trims the content, checks its length and returns 404 for an
 * unknown post.
 */
export function createComment({
  postId,
  content,
}: CreateCommentInput): Promise<CreatedComment> {
  return apiClient.post(
    `/posts/${encodeURIComponent(postId)}/comments`,
    { content },
    createdCommentSchema,
  );
}

type UseCreateCommentOptions = {
  /**
   * Called with the created comment. The post list belongs to another
   * feature, so the page passes the callback that adds the comment there.
   */
  onCreated?: (comment: CreatedComment) => void;
};

/** Creates a comment and hands the server's response to `onCreated`. */
export function useCreateComment({ onCreated }: UseCreateCommentOptions = {}) {
  return useMutation({
    mutationFn: createComment,
    onSuccess: (comment) => onCreated?.(comment),
  });
}
