import { z } from "zod";

import { env } from "@/config/env";

/**
 * Failed API call. `status` is the HTTP status, or 0 when no response
 * arrived. `message` is the server's own text when it sent one, so it can
 * be shown to the user as is.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string().min(1) }),
});

type RequestOptions = {
  method?: "GET" | "POST";
  body?: unknown;
  signal?: AbortSignal;
};

/**
 * Sends a JSON request to the blog API and validates the response body
 * with `schema`. Throws ApiError for a network failure, a non-2xx status
 * or a body that does not match. Rethrows an abort caused by `signal`
 * unchanged, so TanStack Query can tell cancellation from failure.
 */
export async function request<T>(
  path: string,
  schema: z.ZodType<T>,
  { method = "GET", body, signal }: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }

  let response: Response;
  try {
    response = await fetch(resolveUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) {
      throw error;
    }
    throw new ApiError(
      0,
      "network_error",
      "Could not reach the server. Check your connection and try again.",
    );
  }

  const payload = await readJson(response);
  if (!response.ok) {
    throw toApiError(response, payload);
  }

  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new ApiError(
      response.status,
      "invalid_response",
      `The server sent an unexpected response to ${method} ${path}.`,
    );
  }

  return parsed.data;
}

/** The one HTTP client of the app; feature API files call it. */
export const apiClient = {
  get<T>(path: string, schema: z.ZodType<T>, signal?: AbortSignal) {
    return request(path, schema, { signal });
  },
  post<T>(path: string, body: unknown, schema: z.ZodType<T>) {
    return request(path, schema, { method: "POST", body });
  },
};

function resolveUrl(path: string): string {
  // fetch needs an absolute URL outside a browser (tests run in jsdom on
  // Node), so an empty API URL resolves against the page's own origin.
  const base = env.apiUrl === "" ? window.location.origin : env.apiUrl;
  return `${base}${path}`;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === "") {
    return undefined;
  }

  try {
    return JSON.parse(text);
  } catch {
    // A proxy in front of the services may respond with HTML or plain text.
    return undefined;
  }
}

function toApiError(response: Response, payload: unknown): ApiError {
  const parsed = errorBodySchema.safeParse(payload);
  if (parsed.success) {
    const { code, message } = parsed.data.error;
    return new ApiError(response.status, code, message);
  }

  return new ApiError(
    response.status,
    "http_error",
    `The server returned HTTP ${response.status}. Try again later.`,
  );
}
