import assert from "node:assert/strict";
import { after, test } from "node:test";

import { EVENTS, SessionError } from "../src/index.js";
import { client, disconnectAll, memoryStorage, newSession, next, record, live } from "./gateway.mjs";

after(disconnectAll);

test("a session streams an answer: every event once, in order, and the final message", live, async () => {
  const id = await newSession();
  const session = client().session(id, { storage: memoryStorage() });
  const events = record(session, EVENTS);
  const reply = await session.join();
  assert.equal(reply.recovered, false);
  assert.equal(reply.session.id, id);
  const done = next(session, "new_message");
  const sent = await session.send("How do I sync records into PostgreSQL?");
  const final = await done;

  assert.equal(final.message.id, sent.response_message_id);
  assert.equal(final.message.status, "success");
  const seqs = events.map((e) => e.payload.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => reply.seq + 1 + i));
  const text = events.filter((e) => e.event === "streaming_chunk").map((e) => e.payload.content).join("");
  assert.equal(text, final.message.content);
  assert.ok(events.some((e) => e.event === "streaming_changes"));
});

test("a second message while one streams is refused with reason busy", live, async () => {
  const id = await newSession();
  const session = client().session(id, { storage: memoryStorage() });
  await session.join();
  const done = next(session, "new_message");
  await session.send("first");
  await assert.rejects(session.send("second"), (error) => error instanceof SessionError && error.reason === "busy");
  await done;
});

test("stop ends the answer as cancelled, keeping the text so far", live, async () => {
  const id = await newSession({ context: { demo: { chunks: 400, delay: 0.02 } } });
  const session = client().session(id, { storage: memoryStorage() });
  await session.join();
  const done = next(session, "new_message");
  const streaming = next(session, "streaming_chunk");
  await session.send("a long answer please");
  await streaming;
  await session.stop();
  const final = await done;
  assert.equal(final.message.status, "cancelled");
  assert.ok(final.message.content.length > 0);
});

test("regenerate replaces the last answer, and an edit replaces the last question and its answer", live, async () => {
  const id = await newSession();
  const session = client().session(id, { storage: memoryStorage() });
  await session.join();
  let done = next(session, "new_message");
  const first = await session.send("How do I sync records?");
  await done;
  const deleted = next(session, "messages_deleted");
  done = next(session, "new_message");
  const again = await session.regenerate();
  assert.equal(again.message_id, first.message_id);
  assert.deepEqual((await deleted).message_ids, [first.response_message_id]);
  assert.equal((await done).message.id, again.response_message_id);

  const removed = next(session, "messages_deleted");
  done = next(session, "new_message");
  const edited = await session.send("How do I sync contacts?", { edit: first.message_id });
  assert.deepEqual((await removed).message_ids, [first.message_id, again.response_message_id]);
  assert.equal((await done).message.id, edited.response_message_id);
});

test("joining another tenant's session is refused with not_found", live, async () => {
  const id = await newSession({}, "mallory");
  const session = client("alice").session(id, { storage: memoryStorage() });
  await assert.rejects(session.join(), (error) => error.reason === "not_found");
});

/** Resolves once the session's presence satisfies `predicate` (now or at a later change). */
function presenceWhere(session, predicate) {
  if (predicate(session.presence())) return Promise.resolve(session.presence());
  return next(session, "presence", predicate);
}

const names = (list) => list.map((p) => `${p.user_id}:${p.metas.length}`).sort().join(" ");

test("presence counts tabs and people up and down, as phoenix.js Presence sees them", live, async () => {
  const id = await newSession();
  const alice = client("alice").session(id, { storage: memoryStorage() });
  await alice.join();
  await presenceWhere(alice, (list) => names(list) === "alice:1");
  const bob = client("bob").session(id, { storage: memoryStorage() });
  const aliceAgain = client("alice").session(id, { storage: memoryStorage() }); // a second tab of hers
  await Promise.all([bob.join(), aliceAgain.join()]);
  await presenceWhere(alice, (list) => names(list) === "alice:2 bob:1");
  await presenceWhere(bob, (list) => names(list) === "alice:2 bob:1");
  const [meta] = (await presenceWhere(bob, () => true)).find((p) => p.user_id === "bob").metas;
  assert.ok(meta.phx_ref && meta.joined_at, JSON.stringify(meta));
  assert.equal(meta.seq, undefined, "presence is not a numbered session event");
  await bob.leave();
  await aliceAgain.leave();
  await presenceWhere(alice, (list) => names(list) === "alice:1");
});
