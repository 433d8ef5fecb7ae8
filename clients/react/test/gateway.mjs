// The gateway these tests talk to: tests/test_react_binding.py starts a whole streamrelay (Redis, PostgreSQL,
// the demo upstream, a worker) and passes STREAMRELAY_TEST = {"url": "http://127.0.0.1:PORT", "tokens": {…}}.

import { connect, memoryStorage } from "streamrelay-client";
import WebSocket from "ws";

export const gateway = JSON.parse(process.env.STREAMRELAY_TEST ?? "null");
if (!gateway) throw new Error("no gateway: run these tests through pytest (tests/test_react_binding.py)");

const clients = [];

/** A tab: its own connection and its own storage for positions. */
export function tab(user = "alice") {
  const client = connect({
    url: gateway.url.replace(/^http/, "ws") + "/socket",
    token: gateway.tokens[user],
    transport: WebSocket,
    socketOptions: { reconnectAfterMs: () => 50, rejoinAfterMs: () => 100 },
  });
  clients.push(client);
  return { client, storage: memoryStorage() };
}

export async function disconnectAll() {
  await Promise.all(clients.splice(0).map((client) => client.disconnect()));
}

export async function api(method, path, body, user = "alice") {
  const response = await fetch(gateway.url + path, {
    method,
    headers: { authorization: `Bearer ${gateway.tokens[user]}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A session whose demo answer has `chunks` pieces `delay` seconds apart. */
export async function newSession(demo = {}) {
  return (await api("POST", "/api/sessions", { context: { demo } })).id;
}
