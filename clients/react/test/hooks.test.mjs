// The hooks with React Testing Library (jsdom) against a real gateway (tests/test_react_binding.py).

import "./dom.mjs";

import assert from "node:assert/strict";
import { after, test } from "node:test";

import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { StrictMode } from "react";

import { useApply, usePresence, useSession } from "../src/index.js";
import { api, disconnectAll, newSession, tab } from "./gateway.mjs";

const options = { timeout: 60_000 };
const within = { timeout: 30_000, interval: 20 };

after(async () => {
  cleanup();
  await disconnectAll();
});

/** Render useSession for one tab; `seen` keeps every state it rendered. */
function renderSession(sessionId, { user = "alice", wrapper, extra = () => {} } = {}) {
  const { client, storage } = tab(user);
  const seen = [];
  const rendered = renderHook(() => {
    const state = useSession(client, sessionId, { storage });
    seen.push(state);
    return { ...state, ...extra(state) };
  }, { wrapper });
  return { ...rendered, seen };
}

const finished = (state, count) =>
  state.status === "ready" && state.messages.length === count && state.messages.at(-1).status !== "processing";

test("useSession joins, streams the answer in flight and ends with the stored message (StrictMode)", options,
  async () => {
    const sessionId = await newSession({ chunks: 30, delay: 0.01 });
    const { result, seen } = renderSession(sessionId, { wrapper: StrictMode });
    await waitFor(() => assert.equal(result.current.status, "ready"), within);
    assert.equal(result.current.info.id, sessionId);
    await act(() => result.current.send("hello"));
    await waitFor(() => assert.ok(finished(result.current, 2)), within);
    const [question, answer] = result.current.messages;
    assert.equal(question.content, "hello");
    assert.equal(answer.status, "success");
    assert.equal(result.current.streaming, null);
    const streamed = seen.filter((state) => state.status === "streaming" && state.streaming?.content);
    assert.ok(streamed.length > 3, "the answer was rendered while it streamed");
    assert.ok(streamed.every((state) => answer.content.startsWith(state.streaming.content)));
    assert.ok(streamed.some((state) => state.streaming.changes.length === 1), "the early changes are in flight too");
    const stored = (await api("GET", `/api/sessions/${sessionId}/messages`)).messages;
    assert.deepEqual(stored.map((m) => m.content), result.current.messages.map((m) => m.content));
  });

test("stop from another tab ends the answer in both, with the partial text kept", options, async () => {
  const sessionId = await newSession({ chunks: 400, delay: 0.03 });
  const asking = renderSession(sessionId);
  const other = renderSession(sessionId, { user: "bob" });
  await waitFor(() => assert.ok(asking.result.current.status === "ready" && other.result.current.status === "ready"),
    within);
  await act(() => asking.result.current.send("hello"));
  await waitFor(() => assert.ok(other.result.current.streaming?.content.length > 10), within);
  await act(() => other.result.current.stop());
  for (const { result } of [asking, other]) {
    await waitFor(() => assert.ok(finished(result.current, 2)), within);
    assert.equal(result.current.messages[1].status, "cancelled");
    assert.ok(result.current.messages[1].content.length > 10);
  }
  assert.equal(asking.result.current.messages[1].content, other.result.current.messages[1].content);
});

test("useApply runs each change once across two tabs", options, async () => {
  const sessionId = await newSession({ chunks: 10, delay: 0.01 });
  const applied = [];
  const apply = (name) => (state) => {
    useApply(state.session, (change) => applied.push({ name, change }));
    return {};
  };
  const tabs = [renderSession(sessionId, { extra: apply("one") }),
    renderSession(sessionId, { user: "bob", extra: apply("two") })];
  await waitFor(() => assert.ok(tabs.every(({ result }) => result.current.status === "ready")), within);
  await act(() => tabs[0].result.current.send("hello"));
  await waitFor(() => assert.equal(applied.length, 1), within);
  for (const { result } of tabs) {
    await waitFor(() => assert.ok(finished(result.current, 2) && result.current.messages[1].changes[0]?.applied),
      within);
  }
  assert.equal(applied.length, 1);
  assert.match(applied[0].change.changes.yaml, /name: Demo workflow/);
});

test("usePresence and the session's presence list every tab's user", options, async () => {
  const sessionId = await newSession();
  const presence = (state) => ({ people: usePresence(state.session) });
  const first = renderSession(sessionId, { extra: presence });
  const second = renderSession(sessionId, { user: "bob", extra: presence });
  const users = (state) => state.people.map((entry) => entry.user_id).sort();
  await waitFor(() => assert.deepEqual(users(first.result.current), ["alice", "bob"]), within);
  await waitFor(() => assert.deepEqual(users(second.result.current), ["alice", "bob"]), within);
  assert.deepEqual(first.result.current.presence.map((entry) => entry.user_id).sort(), ["alice", "bob"]);
  second.unmount();
  await waitFor(() => assert.deepEqual(users(first.result.current), ["alice"]), within);
});

test("a regenerate elsewhere removes the old answer from the tab's messages", options, async () => {
  const sessionId = await newSession({ chunks: 10, delay: 0.01 });
  const { result } = renderSession(sessionId);
  await waitFor(() => assert.equal(result.current.status, "ready"), within);
  await act(() => result.current.send("hello"));
  await waitFor(() => assert.ok(finished(result.current, 2)), within);
  const old = result.current.messages[1].id;
  const regenerated = await api("POST", `/api/sessions/${sessionId}/regenerate`, {});
  await waitFor(() => assert.ok(finished(result.current, 2) && result.current.messages[1].id !== old), within);
  assert.equal(result.current.messages[1].id, regenerated.response_message_id);
});

test("a refused join and a busy send show as the state's error", options, async () => {
  const missing = renderSession("no-such-session");
  await waitFor(() => assert.equal(missing.result.current.status, "error"), within);
  assert.equal(missing.result.current.error.reason, "not_found");
  const sessionId = await newSession({ chunks: 400, delay: 0.03 });
  const { result } = renderSession(sessionId);
  await waitFor(() => assert.equal(result.current.status, "ready"), within);
  await act(() => result.current.send("first"));
  await act(() => assert.rejects(result.current.send("second"), (error) => error.reason === "busy"));
  assert.equal(result.current.error.reason, "busy");
  await act(() => result.current.stop());
});
