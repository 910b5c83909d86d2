import { render } from "@testing-library/react";
import userEvent, { type Options } from "@testing-library/user-event";

import { App } from "@/app/app";
import { AppProvider } from "@/app/provider";
import { createQueryClient } from "@/lib/react-query";

/**
 * Renders the whole app with a fresh QueryClient that does not retry, so
 * a mocked error shows at once. Returns a user-event instance for it.
 */
export function renderApp(userOptions: Options = {}) {
  const queryClient = createQueryClient({
    defaultOptions: { queries: { retry: false } },
  });
  const user = userEvent.setup(userOptions);
  const view = render(
    <AppProvider queryClient={queryClient}>
      <App />
    </AppProvider>,
  );
  return { user, queryClient, ...view };
}
