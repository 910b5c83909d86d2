import { useState, type ReactNode } from "react";

import { mayHaveOlder, POLL_DELAYS, usePosts } from "../api/get-posts";
import type { FeedPost } from "../api/posts-cache";
import { PostItem } from "./post-item";

type PostListProps = {
  /** Renders what goes under each post, such as its comments. */
  renderPostBody: (post: FeedPost) => ReactNode;
};

/**
 * Newest posts first, with loading, empty and error states, and a button
 * that shows the next page of older posts.
 */
export function PostList({ renderPostBody }: PostListProps) {
  const [pages, setPages] = useState(1);
  const { data: posts, error, isError, refetch } = usePosts(POLL_DELAYS, pages);

  if (posts === undefined) {
    if (isError) {
      return (
        <div className="load-error" role="alert">
          <p>Could not load posts: {error.message}</p>
          <button type="button" onClick={() => void refetch()}>
            Try again
          </button>
        </div>
      );
    }
    return (
      <p className="placeholder" role="status">
        Loading posts…
      </p>
    );
  }

  return (
    <>
      {isError && (
        <p className="form-error" role="alert">
          Could not refresh posts: {error.message} The list below may be out of
          date.
        </p>
      )}
      {posts.length === 0 ? (
        <p className="placeholder">No posts yet. Write the first one above.</p>
      ) : (
        <ol className="post-list">
          {posts.map((post) => (
            <li key={post.id}>
              <PostItem post={post}>{renderPostBody(post)}</PostItem>
            </li>
          ))}
        </ol>
      )}
      {mayHaveOlder(posts, pages) && (
        <button
          type="button"
          className="older-posts"
          onClick={() => setPages((shown) => shown + 1)}
        >
          Show older posts
        </button>
      )}
    </>
  );
}
