import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { z } from "zod";

import { server } from "@/testing/server";

import { ApiError, request } from "./api-client";

const okSchema = z.object({ ok: z.boolean() });

async function requestError(): Promise<ApiError> {
  const error = await request("/thing", okSchema).catch((caught) => caught);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("request", () => {
  it("returns the validated body", async () => {
    server.use(http.get("/thing", () => HttpResponse.json({ ok: true })));

    await expect(request("/thing", okSchema)).resolves.toEqual({ ok: true });
  });

  it("sends a JSON body", async () => {
    let received: unknown;
    let contentType: string | null = null;
    server.use(
      http.post("/thing", async ({ request: sent }) => {
        contentType = sent.headers.get("content-type");
        received = await sent.json();
        return HttpResponse.json({ ok: true }, { status: 201 });
      }),
    );

    await request("/thing", okSchema, { method: "POST", body: { a: "ü" } });

    expect(contentType).toBe("application/json");
    expect(received).toEqual({ a: "ü" });
  });

  it("uses the server's error code and message", async () => {
    server.use(
      http.get("/thing", () =>
        HttpResponse.json(
          { error: { code: "bad_request", message: 'unknown field "x"' } },
          { status: 400 },
        ),
      ),
    );

    const error = await requestError();

    expect(error.status).toBe(400);
    expect(error.code).toBe("bad_request");
    expect(error.message).toBe('unknown field "x"');
  });

  it("describes an error without a JSON body", async () => {
    server.use(
      http.get(
        "/thing",
        () => new HttpResponse("<h1>Bad Gateway</h1>", { status: 502 }),
      ),
    );

    const error = await requestError();

    expect(error.status).toBe(502);
    expect(error.message).toBe(
      "The server returned HTTP 502. Try again later.",
    );
  });

  it("rejects a body of the wrong shape", async () => {
    server.use(http.get("/thing", () => HttpResponse.json({ ok: "yes" })));

    const error = await requestError();

    expect(error.code).toBe("invalid_response");
    expect(error.message).toBe(
      "The server sent an unexpected response to GET /thing.",
    );
  });

  it("reports a network failure with status 0", async () => {
    server.use(http.get("/thing", () => HttpResponse.error()));

    const error = await requestError();

    expect(error.status).toBe(0);
    expect(error.code).toBe("network_error");
  });

  it("rethrows an abort unchanged", async () => {
    server.use(http.get("/thing", () => new Promise<never>(() => {})));
    const controller = new AbortController();

    const pending = request("/thing", okSchema, { signal: controller.signal });
    controller.abort();

    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
