import type { Comment } from "@/types/api";

/**
 * Renders one comment. Only an approved comment shows its text. A pending or
 * rejected one shows its status in words, so rejected text never reaches
 * the page. The live region announces the change when moderation decides.
 */
export function CommentItem({ comment }: { comment: Comment }) {
  return (
    <li className={`comment comment--${comment.status}`}>
      <div aria-live="polite">
        {comment.status === "approved" ? (
          <p className="comment-text" dir="auto">
            {comment.content}
          </p>
        ) : (
          <p className="comment-status">{statusText[comment.status]}</p>
        )}
      </div>
    </li>
  );
}

const statusText = {
  pending: "awaiting moderation",
  rejected: "rejected by moderation",
} as const;
