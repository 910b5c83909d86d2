import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";

import { createQueryClient } from "@/lib/react-query";

type AppProviderProps = {
  children: ReactNode;
  /** A client made by the caller, such as a test; by default a new one. */
  queryClient?: QueryClient;
};

/** Context the whole app needs: the TanStack Query client. */
export function AppProvider({ children, queryClient }: AppProviderProps) {
  const [client] = useState(() => queryClient ?? createQueryClient());
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}
