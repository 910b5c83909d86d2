import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The running blog system that `vite dev` and `vite preview` forward API
// calls to: the one local address that routes like the ingress.
const blogUrl = process.env.BLOG_URL ?? "http://127.0.0.1:8080";

// Only API calls go to the backend. The page itself is always served by
// Vite, so hot reload works against the running services.
const proxy = {
  "/posts": { target: blogUrl, changeOrigin: true },
};

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) },
  },
  server: { host: "127.0.0.1", port: 5173, strictPort: true, proxy },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true, proxy },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/testing/setup-tests.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
