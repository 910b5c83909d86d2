import { z } from "zod";

const envSchema = z.object({
  // Empty means the API is served from the page's own origin, which is how
  // the ingress and the Vite dev proxy route it.
  VITE_API_URL: z
    .string()
    .default("")
    .refine((url) => url === "" || isHttpUrl(url), {
      message: "must be empty or an absolute http(s) URL",
    })
    .transform((url) => url.replace(/\/+$/, "")),
});

function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
}

/** Settings read once from the VITE_* variables that Vite inlines at build time. */
export type Env = { apiUrl: string };

/** Parses VITE_* settings and throws a message naming each invalid variable. */
export function parseEnv(source: Record<string, unknown>): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join(".")} ${issue.message}`)
      .join("; ");
    throw new Error(`Invalid client configuration: ${problems}`);
  }

  return { apiUrl: result.data.VITE_API_URL };
}

export const env = parseEnv(import.meta.env);
