import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterAll, afterEach, beforeAll, vi } from "vitest";

import { server } from "./server";

// With "error", msw makes an unhandled fetch reject, and the app would show
// that as a network error. Record each one so the test fails instead.
const unhandledRequests: string[] = [];

beforeAll(() => {
  server.listen({ onUnhandledRequest: "error" });
  server.events.on("request:unhandled", ({ request }) => {
    unhandledRequests.push(`${request.method} ${request.url}`);
  });
});

afterEach(() => {
  cleanup();
  server.resetHandlers();
  vi.useRealTimers();

  const requests = unhandledRequests.splice(0);
  if (requests.length > 0) {
    throw new Error(`Requests without an msw handler: ${requests.join(", ")}`);
  }
});

afterAll(() => {
  server.close();
});
