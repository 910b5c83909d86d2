// End-to-end check of the whole blog in a real browser: create a post,
// comment on it, watch moderation decide without a reload, and see the
// server's error for a title that is too long.
//
// Usage: BLOG_URL=http://127.0.0.1:8080 node e2e/blog.e2e.mjs
//   BLOG_URL       the running blog, page and API on one origin
//                  (default http://127.0.0.1:8080)
//   E2E_ARTIFACTS  folder for screenshots (default e2e/artifacts)
//   CHROMIUM_PATH  browser binary (default /usr/bin/chromium)
// Exits 0 when every step passes, 1 with the failed step otherwise.

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const blogUrl = process.env.BLOG_URL ?? "http://127.0.0.1:8080";
const artifactsDir = path.resolve(
  process.env.E2E_ARTIFACTS ??
    fileURLToPath(new URL("./artifacts", import.meta.url)),
);
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// Moderation runs asynchronously behind Kafka. This is how long the test
// gives its result to reach the read model.
const MODERATION_TIMEOUT_MS = 30_000;
const UI_TIMEOUT_MS = 10_000;

const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Error that names the step that failed, for the closing message. */
class StepError extends Error {}

async function main() {
  await mkdir(artifactsDir, { recursive: true });
  const userDataDir = await mkdtemp(path.join(tmpdir(), "blog-e2e-"));
  let context;
  let page;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      viewport: { width: 1000, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => log(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") {
        log(`browser console error: ${message.text()}`);
      }
    });

    await runSteps(page);
    log("PASS: all steps passed");
  } catch (error) {
    if (page) {
      await screenshot(page, "failure").catch(() => {});
    }
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`E2E FAILED: ${reason}`);
    process.exitCode = 1;
  } finally {
    await context?.close().catch((error) => {
      console.error(`closing the browser failed: ${error.message}`);
    });
    await rm(userDataDir, { recursive: true, force: true });
  }
}

async function runSteps(page) {
  const title = `E2E post ${new Date().toISOString()} ${randomSuffix()}`;
  let mainFrameNavigations = 0;
  // The event stream that pushes read-model changes, as the page opened it.
  let eventStream = "not opened";
  page.on("response", (response) => {
    if (new URL(response.url()).pathname === "/posts/events") {
      eventStream = `${response.status()} ${response.headers()["content-type"]}`;
    }
  });

  await step(`open ${blogUrl}`, async () => {
    const response = await page.goto(blogUrl, { waitUntil: "load" });
    if (!response) {
      throw new Error("the page load got no response");
    }
    if (!response.ok()) {
      throw new Error(`the page returned HTTP ${response.status()}`);
    }
    await page
      .getByRole("heading", { name: "Blog", level: 1, exact: true })
      .waitFor({ timeout: UI_TIMEOUT_MS });
    // Any later navigation of the main frame would be a reload.
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) {
        mainFrameNavigations += 1;
      }
    });
    await screenshot(page, "01-loaded");
  });

  const newPost = page.getByRole("region", { name: "New post" });
  const article = page.getByRole("article", { name: title, exact: true });

  await step("create a post", async () => {
    await newPost.getByRole("textbox", { name: "Title" }).fill(title);
    await newPost.getByRole("button", { name: "Publish" }).click();
    await waitUntil("the new post in the list", () => article.isVisible(), {
      timeoutMs: UI_TIMEOUT_MS,
      failFast: () => alertText(newPost),
    });
    await screenshot(page, "02-post-created");
  });

  for (const content of ["Lovely post", "I like Orange juice"]) {
    await step(`add comment "${content}"`, async () => {
      const textbox = article.getByRole("textbox", { name: "Add a comment" });
      await textbox.fill(content);
      await article.getByRole("button", { name: "Send comment" }).click();
      await waitUntil(
        `the comment form to clear after sending "${content}"`,
        async () => (await textbox.inputValue()) === "",
        { timeoutMs: UI_TIMEOUT_MS, failFast: () => alertText(article) },
      );
    });
  }
  await screenshot(page, "03-comments-sent");

  await step("see moderation decide without a reload", async () => {
    const comments = article.getByRole("listitem");
    await waitUntil(
      'comments to read "Lovely post" and "rejected by moderation"',
      async () => {
        const texts = await comments.allInnerTexts();
        return (
          texts.length === 2 &&
          texts[0].trim() === "Lovely post" &&
          texts[1].trim() === "rejected by moderation"
        );
      },
      {
        timeoutMs: MODERATION_TIMEOUT_MS,
        describe: async () =>
          `comments: ${JSON.stringify(await comments.allInnerTexts())}`,
      },
    );

    const articleText = await article.innerText();
    if (/orange juice/i.test(articleText)) {
      throw new Error("the rejected comment's text is on the page");
    }
    if (mainFrameNavigations > 0) {
      throw new Error(`the page navigated ${mainFrameNavigations} time(s)`);
    }
    if (eventStream !== "200 text/event-stream") {
      throw new Error(
        `GET /posts/events: ${eventStream}, want 200 text/event-stream`,
      );
    }
    log(`event stream: ${eventStream}`);
    await screenshot(page, "04-moderated");
  });

  await step("see the server's error for a 201-character title", async () => {
    const longTitle = "a".repeat(201);
    const input = newPost.getByRole("textbox", { name: "Title" });
    await input.fill(longTitle);
    await newPost.getByRole("button", { name: "Publish" }).click();

    const alert = newPost.getByRole("alert");
    await alert.waitFor({ timeout: UI_TIMEOUT_MS });
    const message = (await alert.innerText()).trim();
    if (message === "") {
      throw new Error("the error message is empty");
    }
    if ((await input.inputValue()) !== longTitle) {
      throw new Error("the title field lost what was typed");
    }
    log(`server error shown: ${message}`);
    await screenshot(page, "05-title-too-long");
  });
}

async function step(name, action) {
  log(`step: ${name}`);
  try {
    await action();
  } catch (error) {
    if (error instanceof StepError) {
      throw error;
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new StepError(`step "${name}": ${reason}`);
  }
}

/**
 * Polls `check` every 250 ms until it returns true. Throws at once when
 * `failFast` returns a reason, and on timeout with `describe`'s output,
 * so the failure shows what the page had.
 */
async function waitUntil(what, check, { timeoutMs, failFast, describe }) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) {
      return;
    }
    const reason = failFast ? await failFast() : null;
    if (reason) {
      throw new Error(`${reason} (while waiting for ${what})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const state = describe ? `; ${await describe()}` : "";
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${state}`,
  );
}

/** Returns the text of the alerts inside `scope`, or null when none shows. */
async function alertText(scope) {
  const alerts = await scope.getByRole("alert").allInnerTexts();
  return alerts.length > 0 ? `error shown: ${alerts.join(" | ")}` : null;
}

async function screenshot(page, name) {
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot: ${file}`);
}

function randomSuffix() {
  return Math.random().toString(36).slice(2, 8);
}

function log(message) {
  console.log(`[e2e] ${message}`);
}

await main();
