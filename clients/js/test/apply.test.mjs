import assert from "node:assert/strict";
import { after, test } from "node:test";

import { api, client, disconnectAll, memoryStorage, newSession, next, live } from "./gateway.mjs";

after(disconnectAll);

const USERS = ["alice", "bob", "carol", "dave", "erin"];

/** Resolves with the first `count` payloads of `event`. */
function collect(session, event, count) {
  const seen = [];
  return new Promise((resolve) => session.on(event, (payload) => {
    seen.push(payload);
    if (seen.length === count) resolve(seen);
  }));
}

/** A tab with an apply handler that records into `applied` as [tab, change_id]. */
function tab(user, id, applied, name, storage = memoryStorage()) {
  const session = client(user).session(id, { storage });
  session.onApply(({ change_id, changes }) => {
    assert.ok(changes && typeof changes === "object");
    applied.push([name, change_id]);
  });
  return session;
}

async function persistedChanges(id) {
  const { messages } = await api("GET", `/api/sessions/${id}/messages`);
  return messages.filter((m) => m.role === "assistant").flatMap((m) => m.changes);
}

test("five tabs race to apply: each change runs one handler, including a final change that differs", live, async () => {
  const id = await newSession({ context: { demo: { revise: true } } });
  const applied = [];
  const tabs = USERS.map((user, i) => tab(user, id, applied, `tab${i}`));
  const announced = tabs.map((s) => collect(s, "changes_applied", 2));
  await Promise.all(tabs.map((s) => s.join()));
  const early = next(tabs[0], "streaming_changes");
  const finals = tabs.map((s) => next(s, "new_message"));
  await tabs[0].send("Build me a workflow");
  const earlyId = (await early).change_id;
  const final = (await Promise.all(finals))[0].message;
  await Promise.all(tabs.map((s) => s.applier.idle()));

  const finalIds = final.changes.map((c) => c.change_id);
  assert.equal(finalIds.length, 1);
  assert.notEqual(finalIds[0], earlyId, "the revised final change has its own id");
  const ids = applied.map(([, changeId]) => changeId).sort();
  assert.deepEqual(ids, [earlyId, finalIds[0]].sort(), JSON.stringify(applied));
  assert.deepEqual((await persistedChanges(id)).map((c) => c.applied), [true]);

  // Every tab learns who applied each change.
  const appliedBy = Object.fromEntries(applied.map(([name, changeId]) => [changeId, USERS[Number(name.slice(3))]]));
  for (const events of await Promise.all(announced)) {
    assert.deepEqual(Object.fromEntries(events.map((e) => [e.change_id, e.user_id])), appliedBy);
  }

  // A reload of a tab and a tab that comes late apply nothing again.
  const reloaded = tab("alice", id, applied, "reloaded");
  const late = tab("bob", id, applied, "late");
  await Promise.all([reloaded.join(), late.join()]);
  await Promise.all([reloaded.applier.idle(), late.applier.idle()]);
  assert.equal(applied.length, 2, JSON.stringify(applied));
});

test("a change in the history that no tab applied is applied once by the tabs that open later", live, async () => {
  const id = await newSession();
  const { message } = await api("POST", `/api/sessions/${id}/messages?wait=true`, { content: "Build it" });
  assert.deepEqual(message.changes.map((c) => c.applied), [false]);
  const applied = [];
  const tabs = USERS.slice(0, 3).map((user, i) => tab(user, id, applied, `tab${i}`));
  await Promise.all(tabs.map((s) => s.join()));
  await Promise.all(tabs.map((s) => s.applier.idle()));
  assert.deepEqual(applied.map(([, changeId]) => changeId), [message.changes[0].change_id]);
});

test("a tab that joins mid-stream applies the early change from the snapshot, once", live, async () => {
  const id = await newSession({ context: { demo: { chunks: 200, delay: 0.01 } } });
  const watcher = client("alice").session(id, { storage: memoryStorage() }); // no handler: it never claims
  await watcher.join();
  const early = next(watcher, "streaming_changes");
  const done = next(watcher, "new_message");
  await watcher.send("Build me a workflow");
  const change = await early;

  const applied = [];
  const late = tab("bob", id, applied, "late");
  const reply = await late.join();
  const lateDone = next(late, "new_message");
  assert.ok(reply.streaming, "joined while the answer streams");
  assert.deepEqual(reply.streaming.changes.map((c) => c.change_id), [change.change_id]);
  await done;
  await lateDone;
  await late.applier.idle();
  assert.deepEqual(applied, [["late", change.change_id]]);
});
