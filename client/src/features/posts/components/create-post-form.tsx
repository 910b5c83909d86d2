import { useId, useState, type FormEvent } from "react";

import { trimmedLength } from "@/lib/text";

import { useCreatePost } from "../api/create-post";

/** Maximum title length in code points, as the posts service enforces it. */
const TITLE_MAX_LENGTH = 200;

/**
 * Renders the form that creates a post. Only an empty title is rejected
 * here. A title over the limit is still sent, so the server's message is
 * what the user reads.
 */
export function CreatePostForm() {
  const [title, setTitle] = useState("");
  const [emptyError, setEmptyError] = useState(false);
  const createPost = useCreatePost();

  const inputId = useId();
  const hintId = useId();
  const errorId = useId();

  const length = trimmedLength(title);
  const error = emptyError
    ? "Enter a title before publishing."
    : createPost.error?.message;

  function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (length === 0) {
      setEmptyError(true);
      return;
    }

    setEmptyError(false);
    createPost.mutate({ title }, { onSuccess: () => setTitle("") });
  }

  return (
    <form className="form" onSubmit={handleSubmit} noValidate>
      <label htmlFor={inputId}>Title</label>
      <input
        id={inputId}
        name="title"
        type="text"
        dir="auto"
        autoComplete="off"
        value={title}
        onChange={(event) => {
          setTitle(event.target.value);
          setEmptyError(false);
        }}
        aria-required="true"
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${hintId} ${errorId}` : hintId}
      />
      <p
        id={hintId}
        className={length > TITLE_MAX_LENGTH ? "hint hint--over" : "hint"}
      >
        {length} of {TITLE_MAX_LENGTH} characters
      </p>
      {error && (
        <p id={errorId} className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" disabled={createPost.isPending}>
          {createPost.isPending ? "Publishing…" : "Publish"}
        </button>
        <p className="form-status" role="status">
          {createPost.isSuccess ? "Post published." : ""}
        </p>
      </div>
    </form>
  );
}
