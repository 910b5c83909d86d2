import type { Comment } from "@/types/api";

import { CommentItem } from "./comment-item";

/** Comments of one post in the order the server lists them. */
export function CommentList({ comments }: { comments: Comment[] }) {
  if (comments.length === 0) {
    return <p className="placeholder">No comments yet.</p>;
  }

  return (
    <ul className="comment-list">
      {comments.map((comment) => (
        <CommentItem key={comment.id} comment={comment} />
      ))}
    </ul>
  );
}
