import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "@/app/app";
import { AppProvider } from "@/app/provider";

import "./index.css";

const root = document.getElementById("root");
if (root === null) {
  throw new Error("index.html has no element with id root");
}

createRoot(root).render(
  <StrictMode>
    <AppProvider>
      <App />
    </AppProvider>
  </StrictMode>,
);
