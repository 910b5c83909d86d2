import { setupServer } from "msw/node";

/** Mock API for tests; each test adds its handlers with `server.use`. */
export const server = setupServer();
