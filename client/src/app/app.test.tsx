import { screen, waitFor, within } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import { describe, expect, it, vi } from "vitest";

import { errorBody, listPosts, makePost } from "@/testing/mock-api";
import { renderApp } from "@/testing/render-app";
import { server } from "@/testing/server";
import type { Comment } from "@/types/api";

function newPostRegion() {
  return screen.getByRole("region", { name: "New post" });
}

describe("post list", () => {
  it("lists posts with comment statuses", async () => {
    const newer = makePost({
      title: "Newer post",
      comments: [
        { id: "c1", content: "Great read", status: "approved" },
        { id: "c2", content: "Still waiting", status: "pending" },
        { id: "c3", content: "I like Orange juice", status: "rejected" },
      ],
    });
    const older = makePost({ title: "Older post" });
    server.use(listPosts(() => [newer, older]));

    renderApp();

    const articles = await screen.findAllByRole("article");
    expect(articles).toHaveLength(2);
    expect(articles[0]).toHaveAccessibleName("Newer post");
    expect(articles[1]).toHaveAccessibleName("Older post");

    const comments = within(articles[0]).getAllByRole("listitem");
    expect(comments).toHaveLength(3);
    expect(comments[0]).toHaveTextContent("Great read");
    expect(comments[1]).toHaveTextContent("awaiting moderation");
    expect(comments[2]).toHaveTextContent("rejected by moderation");
    expect(screen.queryByText(/Orange juice/)).not.toBeInTheDocument();
    expect(screen.queryByText("Still waiting")).not.toBeInTheDocument();
    expect(within(articles[1]).getByText("No comments yet.")).toBeVisible();
  });

  it("pages through older posts", async () => {
    // 60 posts, newest first; the server pages with limit and before.
    const all = Array.from({ length: 60 }, (_, i) =>
      makePost({ title: `Post ${60 - i}` }),
    );
    const seen: string[] = [];
    server.use(
      http.get("/posts", ({ request }) => {
        const url = new URL(request.url);
        seen.push(url.search);
        const limit = Number(url.searchParams.get("limit"));
        const before = url.searchParams.get("before");
        const start =
          before === null ? 0 : all.findIndex((post) => post.id === before) + 1;
        return HttpResponse.json(all.slice(start, start + limit));
      }),
    );
    const { user } = renderApp();

    await screen.findByRole("article", { name: "Post 60" });
    expect(screen.getAllByRole("article")).toHaveLength(50);
    expect(screen.queryByRole("article", { name: "Post 10" })).toBeNull();

    await user.click(screen.getByRole("button", { name: "Show older posts" }));

    expect(
      await screen.findByRole("article", { name: "Post 1" }),
    ).toBeVisible();
    expect(screen.getAllByRole("article")).toHaveLength(60);
    expect(
      screen.queryByRole("button", { name: "Show older posts" }),
    ).toBeNull();
    expect(seen).toContain(`?limit=50&before=${all[49].id}`);
  });

  it("shows loading then empty state", async () => {
    server.use(listPosts(() => []));

    renderApp();

    expect(screen.getByText("Loading posts…")).toHaveAttribute(
      "role",
      "status",
    );
    expect(await screen.findByText(/No posts yet/)).toBeVisible();
  });

  it("accepts null for an empty list", async () => {
    server.use(http.get("/posts", () => HttpResponse.json(null)));

    renderApp();

    expect(await screen.findByText(/No posts yet/)).toBeVisible();
  });

  it("shows a load error and retries", async () => {
    server.use(
      http.get(
        "/posts",
        () =>
          HttpResponse.json(
            errorBody("unavailable", "The read model is rebuilding."),
            { status: 503 },
          ),
        { once: true },
      ),
      listPosts(() => [makePost({ title: "Back again" })]),
    );
    const { user } = renderApp();

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(
      "Could not load posts: The read model is rebuilding.",
    );

    await user.click(within(alert).getByRole("button", { name: "Try again" }));

    expect(
      await screen.findByRole("article", { name: "Back again" }),
    ).toBeVisible();
  });

  it("renders RTL, emoji, markup literally", async () => {
    const markup = "<img src=x onerror=alert(1)>";
    server.use(
      listPosts(() => [
        makePost({
          title: "שלום עולם 🎉",
          comments: [
            { id: "c1", content: markup, status: "approved" },
            { id: "c2", content: "مرحبا 👋🏽\nsecond line", status: "approved" },
          ],
        }),
      ]),
    );

    const { container } = renderApp();

    const heading = await screen.findByRole("heading", {
      name: "שלום עולם 🎉",
    });
    expect(heading).toHaveAttribute("dir", "auto");
    expect(screen.getByText(markup)).toHaveAttribute("dir", "auto");
    expect(screen.getByText(/مرحبا 👋🏽/)).toHaveTextContent(
      "مرحبا 👋🏽 second line",
    );
    expect(container.querySelector("img")).toBeNull();
  });
});

describe("create post", () => {
  it("shows new post before listed", async () => {
    // GET /posts never lists the new post, as when the read model lags.
    server.use(
      listPosts(() => [makePost({ title: "Existing" })]),
      http.post("/posts/create", async ({ request }) => {
        const { title } = (await request.json()) as { title: string };
        const { id, created_at } = makePost();
        return HttpResponse.json(
          { id, title: title.trim(), created_at },
          { status: 201 },
        );
      }),
    );
    const { user } = renderApp();
    await screen.findByRole("article", { name: "Existing" });

    const input = within(newPostRegion()).getByRole("textbox", {
      name: "Title",
    });
    await user.type(input, "  Hello, world  ");
    await user.click(screen.getByRole("button", { name: "Publish" }));

    const articles = await screen.findAllByRole("article");
    expect(articles[0]).toHaveAccessibleName("Hello, world");
    expect(articles[1]).toHaveAccessibleName("Existing");
    expect(input).toHaveValue("");
    expect(within(newPostRegion()).getByRole("status")).toHaveTextContent(
      "Post published.",
    );
  });

  it("shows server 400, keeps title", async () => {
    const longTitle = "x".repeat(201);
    server.use(
      listPosts(() => []),
      http.post("/posts/create", () =>
        HttpResponse.json(
          errorBody("invalid_title", "title must be 1 to 200 characters"),
          { status: 400 },
        ),
      ),
    );
    const { user } = renderApp();
    await screen.findByText(/No posts yet/);

    const input = within(newPostRegion()).getByRole("textbox", {
      name: "Title",
    });
    await user.type(input, longTitle);
    expect(
      within(newPostRegion()).getByText("201 of 200 characters"),
    ).toBeVisible();
    await user.click(screen.getByRole("button", { name: "Publish" }));

    const alert = await within(newPostRegion()).findByRole("alert");
    expect(alert).toHaveTextContent("title must be 1 to 200 characters");
    expect(input).toHaveValue(longTitle);
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(/title must be 1 to 200/);
  });

  it("shows network error, keeps title", async () => {
    server.use(
      listPosts(() => []),
      http.post("/posts/create", () => HttpResponse.error()),
    );
    const { user } = renderApp();
    await screen.findByText(/No posts yet/);

    const input = within(newPostRegion()).getByRole("textbox", {
      name: "Title",
    });
    await user.type(input, "Offline draft");
    await user.click(screen.getByRole("button", { name: "Publish" }));

    expect(await within(newPostRegion()).findByRole("alert")).toHaveTextContent(
      "Could not reach the server. Check your connection and try again.",
    );
    expect(input).toHaveValue("Offline draft");
  });

  it("rejects blank title locally", async () => {
    server.use(listPosts(() => []));
    const { user } = renderApp();
    await screen.findByText(/No posts yet/);

    await user.type(
      within(newPostRegion()).getByRole("textbox", { name: "Title" }),
      "   ",
    );
    await user.click(screen.getByRole("button", { name: "Publish" }));

    expect(within(newPostRegion()).getByRole("alert")).toHaveTextContent(
      "Enter a title before publishing.",
    );
  });
});

describe("create comment", () => {
  it.each([
    [404, "post_not_found", "post 0193 was not found"],
    [413, "body_too_large", "request body must be at most 16 KiB"],
  ])("shows server %i beside form", async (status, code, message) => {
    const post = makePost({ title: "Target" });
    const other = makePost({ title: "Other" });
    server.use(
      listPosts(() => [post, other]),
      http.post(`/posts/${post.id}/comments`, () =>
        HttpResponse.json(errorBody(code, message), { status }),
      ),
    );
    const { user } = renderApp();

    const article = await screen.findByRole("article", { name: "Target" });
    const textarea = within(article).getByRole("textbox", {
      name: "Add a comment",
    });
    await user.type(textarea, "Kept text ✍️");
    await user.click(
      within(article).getByRole("button", { name: "Send comment" }),
    );

    expect(await within(article).findByRole("alert")).toHaveTextContent(
      message,
    );
    expect(textarea).toHaveValue("Kept text ✍️");
    const otherArticle = screen.getByRole("article", { name: "Other" });
    expect(within(otherArticle).queryByRole("alert")).not.toBeInTheDocument();
  });

  it("shows network error beside form", async () => {
    const post = makePost({ title: "Target" });
    server.use(
      listPosts(() => [post]),
      http.post(`/posts/${post.id}/comments`, () => HttpResponse.error()),
    );
    const { user } = renderApp();

    const article = await screen.findByRole("article", { name: "Target" });
    await user.type(
      within(article).getByRole("textbox", { name: "Add a comment" }),
      "Hello",
    );
    await user.click(
      within(article).getByRole("button", { name: "Send comment" }),
    );

    expect(await within(article).findByRole("alert")).toHaveTextContent(
      "Could not reach the server.",
    );
  });

  it("polls until comments are moderated", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const post = makePost({ title: "Moderated" });
    let listed: Comment[] = [];
    let listRequests = 0;
    let nextComment = 1;
    server.use(
      http.get("/posts", () => {
        listRequests += 1;
        return HttpResponse.json([{ ...post, comments: listed }]);
      }),
      http.post(`/posts/${post.id}/comments`, async ({ request }) => {
        const { content } = (await request.json()) as { content: string };
        const id = `c${nextComment++}`;
        return HttpResponse.json(
          { id, post_id: post.id, content, status: "pending" },
          { status: 201 },
        );
      }),
    );
    const { user } = renderApp({ advanceTimers: vi.advanceTimersByTime });

    const article = await screen.findByRole("article", { name: "Moderated" });
    const textarea = within(article).getByRole("textbox", {
      name: "Add a comment",
    });
    const send = within(article).getByRole("button", { name: "Send comment" });
    await user.type(textarea, "Lovely post");
    await user.click(send);
    await within(article).findByText("awaiting moderation");
    await user.type(textarea, "I like Orange juice");
    await user.click(send);

    // Both show as pending although GET /posts does not list them yet.
    await waitFor(() =>
      expect(within(article).getAllByText("awaiting moderation")).toHaveLength(
        2,
      ),
    );
    expect(textarea).toHaveValue("");

    // The read model now lists both, still pending, so polling goes on.
    listed = [
      { id: "c1", content: "Lovely post", status: "pending" },
      { id: "c2", content: "I like Orange juice", status: "pending" },
    ];
    await vi.advanceTimersByTimeAsync(1000);
    expect(within(article).getAllByText("awaiting moderation")).toHaveLength(2);

    listed = [
      { id: "c1", content: "Lovely post", status: "approved" },
      { id: "c2", content: "I like Orange juice", status: "rejected" },
    ];
    await vi.advanceTimersByTimeAsync(5000);

    const approved = await within(article).findByText("Lovely post");
    expect(approved.closest("[aria-live]")).toHaveAttribute(
      "aria-live",
      "polite",
    );
    expect(within(article).getByText("rejected by moderation")).toBeVisible();
    expect(within(article).queryByText(/Orange juice/)).not.toBeInTheDocument();
    expect(
      within(article).queryByText("awaiting moderation"),
    ).not.toBeInTheDocument();

    const requestsWhenSettled = listRequests;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(listRequests).toBe(requestsWhenSettled);
  });

  it("backs off polls up to 5 s", async () => {
    vi.useFakeTimers();
    const requestTimes: number[] = [];
    server.use(
      http.get("/posts", () => {
        requestTimes.push(Date.now());
        return HttpResponse.json([
          makePost({
            title: "Stuck",
            comments: [{ id: "c1", content: "x", status: "pending" }],
          }),
        ]);
      }),
    );
    renderApp();

    await vi.advanceTimersByTimeAsync(0);
    expect(requestTimes).toHaveLength(1);
    expect(screen.getByRole("article", { name: "Stuck" })).toBeVisible();
    for (let step = 0; step < 6; step += 1) {
      await vi.advanceTimersByTimeAsync(5000);
    }

    const gaps = requestTimes.slice(1).map((time, i) => time - requestTimes[i]);
    expect(gaps.slice(0, 5)).toEqual([500, 1000, 2000, 4000, 5000]);
  });
});
