import { z } from "zod";

// Types shared by more than one feature. Each feature keeps the shapes that
// only it uses next to its own API call.

export const commentStatusSchema = z.enum(["pending", "approved", "rejected"]);

/** Moderation state of a comment: pending until moderation decides. */
export type CommentStatus = z.infer<typeof commentStatusSchema>;

export const commentSchema = z.object({
  id: z.string(),
  content: z.string(),
  status: commentStatusSchema,
});

/** A comment as the query service lists it under its post. */
export type Comment = z.infer<typeof commentSchema>;

export const createdCommentSchema = commentSchema.extend({
  post_id: z.string(),
});

/** The comment that POST /posts/{id}/comments returns with status pending. */
export type CreatedComment = z.infer<typeof createdCommentSchema>;
