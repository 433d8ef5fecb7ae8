// A DOM for React Testing Library under `node --test`: jsdom's window as the globals a browser has.
// Imported first by every test file that renders.

import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { url: "http://localhost/" });
for (const name of ["window", "document", "navigator", "HTMLElement", "Node", "Element", "MutationObserver",
  "getComputedStyle", "requestAnimationFrame", "cancelAnimationFrame"]) {
  if (!(name in globalThis) || name === "navigator") {
    Object.defineProperty(globalThis, name, { value: dom.window[name], configurable: true, writable: true });
  }
}
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
