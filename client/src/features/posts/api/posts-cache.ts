import type { Comment, CreatedComment } from "@/types/api";

// GET /posts is served by the query service, which builds its read model
// from events, so a post or comment that a POST has just created shows up
// there only after a short delay. Until it does, the cached list carries
// the POST response marked `optimistic`, and each refetch keeps it.

/** A post as GET /posts returns it. */
export type Post = {
  id: string;
  title: string;
  created_at: string;
  comments: Comment[];
};

/** A post as POST /posts/create returns it. */
export type CreatedPost = Omit<Post, "comments">;

/** A comment in the cached list; `optimistic` until GET /posts has it. */
export type FeedComment = Comment & { optimistic?: true };

/** A post in the cached list; `optimistic` until GET /posts has it. */
export type FeedPost = Omit<Post, "comments"> & {
  comments: FeedComment[];
  optimistic?: true;
};

/**
 * Merges a fresh GET /posts result with the optimistic entries of the
 * previous cached list. An entry is dropped once the server list contains
 * its id, so the server's version, with its current status, wins.
 */
export function mergeWithOptimistic(
  server: Post[],
  previous: FeedPost[] = [],
): FeedPost[] {
  const serverIds = new Set(server.map((post) => post.id));
  const previousById = new Map(previous.map((post) => [post.id, post]));

  const waitingPosts = previous.filter(
    (post) => post.optimistic && !serverIds.has(post.id),
  );

  const merged = server.map((post) => ({
    ...post,
    comments: mergeComments(post.comments, previousById.get(post.id)),
  }));

  // Both lists are newest first, and a just-created post is newer than
  // anything the server has returned so far.
  return [...waitingPosts, ...merged];
}

function mergeComments(
  server: Comment[],
  previous: FeedPost | undefined,
): FeedComment[] {
  if (previous === undefined) {
    return server;
  }

  const serverIds = new Set(server.map((comment) => comment.id));
  const waiting = previous.comments.filter(
    (comment) => comment.optimistic && !serverIds.has(comment.id),
  );
  return waiting.length === 0 ? server : [...server, ...waiting];
}

/** Adds a just-created post to the top of the cached list. */
export function addOptimisticPost(
  posts: FeedPost[] | undefined,
  created: CreatedPost,
): FeedPost[] {
  const list = posts ?? [];
  if (list.some((post) => post.id === created.id)) {
    return list;
  }

  return [{ ...created, comments: [], optimistic: true }, ...list];
}

/**
 * Appends a just-created comment to its post in the cached list. Returns
 * the list unchanged when the post is not in it.
 */
export function addOptimisticComment(
  posts: FeedPost[] | undefined,
  created: CreatedComment,
): FeedPost[] | undefined {
  return posts?.map((post) => {
    const known = post.comments.some((comment) => comment.id === created.id);
    if (post.id !== created.post_id || known) {
      return post;
    }

    const comment: FeedComment = {
      id: created.id,
      content: created.content,
      status: created.status,
      optimistic: true,
    };
    return { ...post, comments: [...post.comments, comment] };
  });
}

/**
 * Reports whether the list can change without a new write: some comment
 * awaits moderation or some entry is not yet in GET /posts.
 */
export function isUnsettled(posts: FeedPost[] | undefined): boolean {
  return (posts ?? []).some(
    (post) =>
      post.optimistic === true ||
      post.comments.some(
        (comment) =>
          comment.optimistic === true || comment.status === "pending",
      ),
  );
}

/** Lists the ids of optimistic entries as one string, for change checks. */
export function optimisticIds(posts: FeedPost[] | undefined): string {
  const ids: string[] = [];
  for (const post of posts ?? []) {
    if (post.optimistic) {
      ids.push(post.id);
    }
    for (const comment of post.comments) {
      if (comment.optimistic) {
        ids.push(comment.id);
      }
    }
  }
  return ids.join(",");
}
