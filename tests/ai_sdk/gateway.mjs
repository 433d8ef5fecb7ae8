// The gateway these tests talk to (tests/test_ai_sdk_js.py starts it), with the JavaScript client's test helpers:
// STREAMRELAY_TEST = {"url": "http://127.0.0.1:PORT", "tokens": {…}}.

import { api, client, gateway, memoryStorage, newSession as newSessionWith } from "../../clients/js/test/gateway.mjs";

export { api, disconnectAll, gateway } from "../../clients/js/test/gateway.mjs";

if (!gateway) throw new Error("no gateway: run these tests through pytest (tests/test_ai_sdk_js.py)");

export function auth(user = "alice") {
  return { Authorization: `Bearer ${gateway.tokens[user]}` };
}

/** A session whose demo answer has `chunks` pieces, `delay` seconds apart (and a tool call with `tools`). */
export function newSession(demo = {}) {
  return newSessionWith({ context: { demo } });
}

export async function storedMessages(sessionId) {
  return (await api("GET", `/api/sessions/${sessionId}/messages`)).messages;
}

/** Another tab: a streamrelay-client session, joined. */
export async function tab(sessionId, user = "bob") {
  const session = client(user).session(sessionId, { storage: memoryStorage() });
  await session.join();
  return session;
}
