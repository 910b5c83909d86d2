import { useId, useState, type FormEvent } from "react";

import { trimmedLength } from "@/lib/text";
import type { CreatedComment } from "@/types/api";

import { useCreateComment } from "../api/create-comment";

/** Maximum comment length in code points, as the comments service enforces it. */
const CONTENT_MAX_LENGTH = 2000;

type CommentFormProps = {
  postId: string;
  onCreated: (comment: CreatedComment) => void;
};

/**
 * Renders the form that adds a comment to one post. Only an empty comment
 * is rejected here. Longer text is still sent, so the server's message is
 * shown.
 */
export function CommentForm({ postId, onCreated }: CommentFormProps) {
  const [content, setContent] = useState("");
  const [emptyError, setEmptyError] = useState(false);
  const createComment = useCreateComment({ onCreated });

  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

  const length = trimmedLength(content);
  const error = emptyError
    ? "Enter a comment before sending."
    : createComment.error?.message;

  function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (length === 0) {
      setEmptyError(true);
      return;
    }

    setEmptyError(false);
    createComment.mutate(
      { postId, content },
      { onSuccess: () => setContent("") },
    );
  }

  return (
    <form className="form form--comment" onSubmit={handleSubmit} noValidate>
      <label htmlFor={inputId}>Add a comment</label>
      <textarea
        id={inputId}
        name="content"
        dir="auto"
        rows={2}
        value={content}
        onChange={(event) => {
          setContent(event.target.value);
          setEmptyError(false);
        }}
        aria-required="true"
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${hintId} ${errorId}` : hintId}
      />
      <p
        id={hintId}
        className={length > CONTENT_MAX_LENGTH ? "hint hint--over" : "hint"}
      >
        {length} of {CONTENT_MAX_LENGTH} characters
      </p>
      {error && (
        <p id={errorId} className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" disabled={createComment.isPending}>
          {createComment.isPending ? "Sending…" : "Send comment"}
        </button>
        <p className="form-status" role="status">
          {createComment.isSuccess ? "Comment sent for moderation." : ""}
        </p>
      </div>
    </form>
  );
}
