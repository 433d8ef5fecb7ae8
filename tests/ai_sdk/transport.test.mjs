// The AI SDK's own DefaultChatTransport and readUIMessageStream against a real gateway (tests/test_ai_sdk_js.py).

import assert from "node:assert/strict";
import { after, test } from "node:test";

import { DefaultChatTransport, readUIMessageStream } from "ai";

import { api, auth, disconnectAll, gateway, newSession, storedMessages, tab } from "./gateway.mjs";

const options = { timeout: 60_000 };

after(disconnectAll);

function transport(user = "alice") {
  return new DefaultChatTransport({ api: `${gateway.url}/api/ai-sdk/chat`, headers: auth(user) });
}

function userMessage(text, id = `client-${Math.random().toString(36).slice(2)}`) {
  return { id, role: "user", parts: [{ type: "text", text }] };
}

function send(chat, sessionId, text, extra = {}) {
  return chat.sendMessages({
    chatId: sessionId,
    messages: [userMessage(text)],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: extra.abortSignal,
    ...extra,
  });
}

/** The last UIMessage a stream builds; `until` (a predicate on it) stops reading early. */
async function lastMessage(stream, until = () => false) {
  let last;
  for await (const message of readUIMessageStream({ stream, terminateOnError: true })) {
    last = message;
    if (until(message)) break;
  }
  return last;
}

const textOf = (message) =>
  message.parts.filter((part) => part.type === "text").map((part) => part.text).join("");

test("a message streams back as the assistant's UIMessage: text, changes, metadata", options, async () => {
  const sessionId = await newSession({ chunks: 20, delay: 0.002 });
  const message = await lastMessage(await send(transport(), sessionId, "hello"));
  const [question, answer] = await storedMessages(sessionId);
  assert.equal(question.content, "hello");
  assert.equal(message.id, answer.id);
  assert.equal(message.role, "assistant");
  assert.equal(textOf(message), answer.content);
  assert.ok(message.parts.filter((part) => part.type === "text").every((part) => part.state === "done"));
  const changes = message.parts.find((part) => part.type === "data-changes");
  assert.equal(changes.data.change_id.length, 64);
  assert.match(changes.data.changes.yaml, /name: Demo workflow/);
  assert.equal(message.metadata.status, "success");
  assert.ok(!message.parts.some((part) => part.type === "data-status"), "status parts are transient");
});

test("a tool call becomes a dynamic tool part with its output", options, async () => {
  const sessionId = await newSession({ chunks: 10, delay: 0.002, tools: true });
  const message = await lastMessage(await send(transport(), sessionId, "find the docs"));
  const call = message.parts.find((part) => part.type === "dynamic-tool");
  assert.equal(call.toolName, "search_docs");
  assert.equal(call.state, "output-available");
  assert.equal(typeof call.output, "string");
  const kinds = message.parts.map((part) => part.type).filter((type) => type !== "step-start");
  assert.ok(kinds.indexOf("dynamic-tool") < kinds.indexOf("text"), "the tool call comes before the answer's text");
});

test("a message while one runs is refused 409 busy, the API's JSON error as the SDK's error", options, async () => {
  const sessionId = await newSession({ chunks: 200, delay: 0.05 });
  await api("POST", `/api/sessions/${sessionId}/messages`, { content: "first" });
  await assert.rejects(send(transport(), sessionId, "second"), (error) => {
    assert.equal(error.statusCode, 409);
    assert.equal(JSON.parse(error.message).code, "busy");
    return true;
  });
  await api("POST", `/api/sessions/${sessionId}/stop`);
});

test("stop from another tab ends the SDK's stream with the partial text and a finish", options, async () => {
  const sessionId = await newSession({ chunks: 400, delay: 0.03 });
  const other = await tab(sessionId, "bob");
  const stream = await send(transport(), sessionId, "hello");
  let stopped = false;
  let last;
  for await (const message of readUIMessageStream({ stream, terminateOnError: true })) {
    last = message;
    if (!stopped && textOf(message).length > 0) {
      stopped = true;
      await other.stop();
    }
  }
  const [, answer] = await storedMessages(sessionId);
  assert.equal(answer.status, "cancelled");
  assert.equal(last.metadata.status, "cancelled");
  assert.ok(answer.content.length > 0);
  assert.equal(textOf(last), answer.content);
});

test("reconnecting mid-answer (resume) shows the answer once, from its start", options, async () => {
  const sessionId = await newSession({ chunks: 120, delay: 0.02 });
  const chat = transport();
  const leaving = new AbortController();
  const partial = await lastMessage(
    await send(chat, sessionId, "hello", { abortSignal: leaving.signal }),
    (message) => textOf(message).split(" ").length > 5,
  );
  leaving.abort(); // the tab reloads: its stream is gone, the generation goes on
  const reconnected = await chat.reconnectToStream({ chatId: sessionId });
  assert.ok(reconnected, "an answer is in flight");
  const resumed = await lastMessage(reconnected);
  const [, answer] = await storedMessages(sessionId);
  assert.equal(resumed.id, partial.id);
  assert.equal(textOf(resumed), answer.content, "no delta twice, none missing");
  assert.ok(answer.content.startsWith(textOf(partial)));
  assert.equal(resumed.metadata.status, "success");
  assert.equal(await chat.reconnectToStream({ chatId: sessionId }), null, "nothing in flight: 204");
});

test("regenerate-message replaces the last answer", options, async () => {
  const sessionId = await newSession({ chunks: 10, delay: 0.002 });
  const chat = transport();
  const first = await lastMessage(await send(chat, sessionId, "hello"));
  const again = await lastMessage(
    await chat.sendMessages({ chatId: sessionId, messages: [], trigger: "regenerate-message", messageId: first.id }),
  );
  const stored = await storedMessages(sessionId);
  assert.deepEqual(stored.map((m) => m.id).slice(1), [again.id]);
  assert.notEqual(again.id, first.id);
});
