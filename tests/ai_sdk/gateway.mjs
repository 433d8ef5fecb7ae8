// The gateway these tests talk to: tests/test_ai_sdk_js.py starts a whole streamrelay (Redis, PostgreSQL, the
// demo upstream, a worker) and passes STREAMRELAY_TEST = {"url": "http://127.0.0.1:PORT", "tokens": {…}}.

import { Socket } from "phoenix";
import WebSocket from "ws";

export const gateway = JSON.parse(process.env.STREAMRELAY_TEST ?? "null");
if (!gateway) throw new Error("no gateway: run these tests through pytest (tests/test_ai_sdk_js.py)");

export function auth(user = "alice") {
  return { Authorization: `Bearer ${gateway.tokens[user]}` };
}

export async function api(method, path, body, user = "alice") {
  const response = await fetch(gateway.url + path, {
    method,
    headers: { ...auth(user), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A session whose demo answer has `chunks` pieces, `delay` seconds apart (and a tool call with `tools`). */
export async function newSession(demo = {}) {
  return (await api("POST", "/api/sessions", { context: { demo } })).id;
}

export async function storedMessages(sessionId) {
  return (await api("GET", `/api/sessions/${sessionId}/messages`)).messages;
}

/** Another tab: a phoenix.js socket joined to the session's channel. */
export async function tab(sessionId, user = "bob") {
  const socket = new Socket(gateway.url.replace(/^http/, "ws") + "/socket", {
    transport: WebSocket,
    params: { token: gateway.tokens[user] },
    vsn: "2.0.0",
  });
  socket.connect();
  const channel = socket.channel(`ai_session:${sessionId}`, {});
  await new Promise((resolve, reject) => channel.join().receive("ok", resolve).receive("error", reject));
  const push = (event, payload = {}) =>
    new Promise((resolve, reject) =>
      channel.push(event, payload).receive("ok", resolve).receive("error", reject).receive("timeout", reject),
    );
  return { channel, push, close: () => socket.disconnect() };
}
