import { QueryClient, type QueryClientConfig } from "@tanstack/react-query";

/** Creates the app's QueryClient; tests pass overrides such as `retry: false`. */
export function createQueryClient(config: QueryClientConfig = {}): QueryClient {
  return new QueryClient({
    ...config,
    defaultOptions: {
      ...config.defaultOptions,
      queries: {
        // A failed read is retried once; polling retries again anyway.
        retry: 1,
        ...config.defaultOptions?.queries,
      },
    },
  });
}
