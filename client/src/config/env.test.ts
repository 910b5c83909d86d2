import { describe, expect, it } from "vitest";

import { parseEnv } from "./env";

describe("parseEnv", () => {
  it("defaults the API URL to the page's origin", () => {
    expect(parseEnv({})).toEqual({ apiUrl: "" });
  });

  it("drops a trailing slash", () => {
    expect(parseEnv({ VITE_API_URL: "https://blog.test/" })).toEqual({
      apiUrl: "https://blog.test",
    });
  });

  it.each(["blog.test", "ftp://blog.test", "/api"])(
    "rejects %s with the variable's name",
    (value) => {
      expect(() => parseEnv({ VITE_API_URL: value })).toThrow(
        "Invalid client configuration: VITE_API_URL must be empty or an absolute http(s) URL",
      );
    },
  );
});
