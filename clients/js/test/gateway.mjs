// The gateway these tests talk to: tests/test_js_client.py starts a whole streamrelay and passes
// STREAMRELAY_TEST = {"url": "http://127.0.0.1:PORT", "tokens": {"alice": jwt, …}}. Without it
// (`npm test` alone) the gateway tests are skipped and only the units run.

import WebSocket from "ws";

import { connect, memoryStorage } from "../src/index.js";

export const gateway = process.env.STREAMRELAY_TEST ? JSON.parse(process.env.STREAMRELAY_TEST) : null;
const skip = gateway ? false : "no gateway: run through pytest (tests/test_js_client.py)";
/** Options of a test that needs the gateway: skipped without one, and failed rather than hung. */
export const live = { skip, timeout: 60_000 };

const clients = [];

export function client(user = "alice", options = {}) {
  const made = connect({
    url: gateway.url.replace(/^http/, "ws") + "/socket",
    token: gateway.tokens[user],
    transport: WebSocket,
    socketOptions: { reconnectAfterMs: () => 50, rejoinAfterMs: () => 100 },
    ...options,
  });
  clients.push(made);
  return made;
}

export async function disconnectAll() {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
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

export async function newSession(body = {}, user = "alice") {
  return (await api("POST", "/api/sessions", body, user)).id;
}

/** Resolves with the payload of the first `event` that `predicate` accepts. */
export function next(session, event, predicate = () => true) {
  return new Promise((resolve) => {
    const stop = session.on(event, (payload) => {
      if (predicate(payload)) {
        stop();
        resolve(payload);
      }
    });
  });
}

/** Every event of a session, in arrival order: [{event, payload}]. */
export function record(session, events) {
  const seen = [];
  for (const event of events) session.on(event, (payload) => seen.push({ event, payload }));
  return seen;
}

export { memoryStorage };
