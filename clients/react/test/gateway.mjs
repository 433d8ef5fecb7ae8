// The gateway these tests talk to is the JavaScript client's (tests/test_react_binding.py starts it): its helpers,
// and a tab as the hooks take it (a connection and a storage of its own for positions).

import { client, memoryStorage, newSession as newSessionWith } from "../../js/test/gateway.mjs";

export { api, disconnectAll } from "../../js/test/gateway.mjs";

export function tab(user = "alice") {
  return { client: client(user), storage: memoryStorage() };
}

/** A session whose demo answer has `chunks` pieces `delay` seconds apart. */
export function newSession(demo = {}) {
  return newSessionWith({ context: { demo } });
}
