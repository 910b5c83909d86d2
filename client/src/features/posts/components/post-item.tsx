import { useId, type ReactNode } from "react";

import type { FeedPost } from "../api/posts-cache";

type PostItemProps = {
  post: FeedPost;
  children?: ReactNode;
};

const dateFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});

/** Renders one post with its title, creation time and the given children. */
export function PostItem({ post, children }: PostItemProps) {
  const headingId = useId();
  return (
    <article className="post" aria-labelledby={headingId}>
      <header className="post-header">
        <h3 id={headingId} className="post-title" dir="auto">
          {post.title}
        </h3>
        <p className="post-meta">
          <time dateTime={post.created_at}>{formatDate(post.created_at)}</time>
        </p>
      </header>
      {children}
    </article>
  );
}

function formatDate(value: string): string {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : dateFormat.format(date);
}
