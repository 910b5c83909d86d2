import { describe, expect, it } from "vitest";

import {
  addOptimisticComment,
  addOptimisticPost,
  isUnsettled,
  mergeWithOptimistic,
  optimisticIds,
  type FeedPost,
  type Post,
} from "./posts-cache";

const listed: Post = {
  id: "p1",
  title: "Listed",
  created_at: "2026-12-04T10:00:00Z",
  comments: [{ id: "c1", content: "Old", status: "approved" }],
};

const created = { id: "p2", title: "New", created_at: "2026-12-04T11:00:00Z" };

const createdComment = {
  id: "c2",
  post_id: "p1",
  content: "Hi",
  status: "pending" as const,
};

describe("mergeWithOptimistic", () => {
  it("keeps optimistic entries the server lacks", () => {
    const cached = addOptimisticComment(
      addOptimisticPost([listed], created),
      createdComment,
    );

    const merged = mergeWithOptimistic([listed], cached);

    expect(merged.map((post) => post.id)).toEqual(["p2", "p1"]);
    expect(merged[0].optimistic).toBe(true);
    expect(merged[1].comments.map((comment) => comment.id)).toEqual([
      "c1",
      "c2",
    ]);
    expect(merged[1].comments[1].optimistic).toBe(true);
  });

  it("prefers the server's copies", () => {
    const cached = addOptimisticComment(
      addOptimisticPost([listed], created),
      createdComment,
    );
    const server: Post[] = [
      { ...created, comments: [] },
      {
        ...listed,
        comments: [
          ...listed.comments,
          { id: "c2", content: "Hi", status: "approved" },
        ],
      },
    ];

    const merged = mergeWithOptimistic(server, cached);

    expect(merged).toEqual(server);
    expect(isUnsettled(merged)).toBe(false);
  });

  it("keeps comments on unlisted post", () => {
    const cached = addOptimisticComment(addOptimisticPost([listed], created), {
      ...createdComment,
      post_id: "p2",
    });

    const merged = mergeWithOptimistic([listed], cached);

    expect(merged[0].comments).toEqual([
      { id: "c2", content: "Hi", status: "pending", optimistic: true },
    ]);
  });

  it("returns server list without cache", () => {
    expect(mergeWithOptimistic([listed], undefined)).toEqual([listed]);
  });
});

describe("addOptimisticPost", () => {
  it("ignores a post already listed", () => {
    const posts: FeedPost[] = [{ ...created, comments: [] }];
    expect(addOptimisticPost(posts, created)).toBe(posts);
  });

  it("starts a list when none is cached", () => {
    expect(addOptimisticPost(undefined, created)).toEqual([
      { ...created, comments: [], optimistic: true },
    ]);
  });
});

describe("addOptimisticComment", () => {
  it("ignores a comment already listed", () => {
    const posts: FeedPost[] = [
      {
        ...listed,
        comments: [{ id: "c2", content: "Hi", status: "approved" }],
      },
    ];
    expect(addOptimisticComment(posts, createdComment)).toEqual(posts);
  });

  it("leaves the list alone for an unknown post", () => {
    const posts: FeedPost[] = [listed];
    expect(
      addOptimisticComment(posts, { ...createdComment, post_id: "p9" }),
    ).toEqual(posts);
  });
});

describe("isUnsettled", () => {
  it.each([
    ["no list", undefined, false],
    ["a moderated list", [listed], false],
    [
      "a pending comment",
      [{ ...listed, comments: [{ id: "c", content: "", status: "pending" }] }],
      true,
    ],
    ["an optimistic post", [{ ...listed, optimistic: true }], true],
  ] as const)("returns %s -> %s", (_name, posts, expected) => {
    expect(isUnsettled(posts as FeedPost[] | undefined)).toBe(expected);
  });
});

describe("optimisticIds", () => {
  it("lists optimistic posts and comments", () => {
    const cached = addOptimisticComment(
      addOptimisticPost([listed], created),
      createdComment,
    );
    expect(optimisticIds(cached)).toBe("p2,c2");
  });
});
