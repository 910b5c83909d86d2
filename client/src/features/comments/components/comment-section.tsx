import { useId } from "react";

import type { Comment, CreatedComment } from "@/types/api";

import { CommentForm } from "./comment-form";
import { CommentList } from "./comment-list";

type CommentSectionProps = {
  postId: string;
  comments: Comment[];
  /** Receives each comment this section creates, for the page's list. */
  onCreated: (comment: CreatedComment) => void;
};

/** Comments of one post and the form that adds one. */
export function CommentSection({
  postId,
  comments,
  onCreated,
}: CommentSectionProps) {
  const headingId = useId();
  return (
    <section className="comments" aria-labelledby={headingId}>
      <h4 id={headingId} className="comments-heading">
        Comments
      </h4>
      <CommentList comments={comments} />
      <CommentForm postId={postId} onCreated={onCreated} />
    </section>
  );
}
