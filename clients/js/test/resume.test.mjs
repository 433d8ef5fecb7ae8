import assert from "node:assert/strict";
import { after, test } from "node:test";

import { EVENTS } from "../src/index.js";
import { client, disconnectAll, memoryStorage, newSession, next, record, live } from "./gateway.mjs";

after(disconnectAll);

const SLOW = { context: { demo: { chunks: 80, delay: 0.01 } } };

/** Resolves once `count` chunks have arrived. */
function chunks(session, count) {
  let seen = 0;
  return next(session, "streaming_chunk", () => ++seen >= count);
}

function checkWhole(first, events, final) {
  const seqs = events.map((e) => e.payload.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => first.seq + 1 + i), "no gap, no duplicate");
  const text = events.filter((e) => e.event === "streaming_chunk").map((e) => e.payload.content).join("");
  assert.equal(text, final.content);
}

test("a reload mid-stream resumes from the stored position: nothing missed, nothing twice", live, async () => {
  const id = await newSession(SLOW);
  const storage = memoryStorage(); // the tab's sessionStorage, which survives the reload
  const before = client().session(id, { storage });
  const events = record(before, EVENTS);
  const first = await before.join();
  const someChunks = chunks(before, 5);
  await before.send("Build me a workflow");
  await someChunks;
  await before.leave();
  const seen = events.at(-1).payload.seq;

  const shown = events.filter((e) => e.event === "streaming_chunk").map((e) => e.payload.content).join("");
  const after = client().session(id, { storage });
  const resumed = record(after, EVENTS);
  const done = next(after, "new_message");
  const reply = await after.join();
  assert.equal(reply.recovered, true);
  assert.equal(reply.seq, seen);
  assert.equal(reply.streaming.content, shown, "the reloaded page has the text that came before its position");
  assert.equal(reply.streaming.message_id, events.at(-1).payload.message_id);
  const final = (await done).message;
  checkWhole(first, [...events, ...resumed], final);
  assert.equal(final.status, "success");
});

test("a dropped connection reconnects and resumes with since", live, async () => {
  const id = await newSession(SLOW);
  const tab = client();
  const session = tab.session(id, { storage: memoryStorage() });
  const events = record(session, EVENTS);
  const joins = [];
  session.on("join", (reply) => joins.push(reply));
  const first = await session.join();
  const someChunks = chunks(session, 5);
  const done = next(session, "new_message");
  await session.send("Build me a workflow");
  await someChunks;
  tab.socket.conn.close(); // the network drops; phoenix.js reconnects by itself
  const final = (await done).message;

  assert.equal(joins.length, 2, "joined, then rejoined once");
  assert.equal(joins[1].recovered, true);
  checkWhole(first, events, final);
});

test("a stored position from a lost history falls back to the snapshot, flagged", live, async () => {
  const id = await newSession();
  const storage = memoryStorage();
  storage.setItem(`streamrelay:position:${id}`, JSON.stringify({ seq: 7, epoch: "a-history-that-is-gone" }));
  const reply = await client().session(id, { storage }).join();
  assert.equal(reply.recovered, false);
  assert.notEqual(reply.epoch, "a-history-that-is-gone");
  const stored = JSON.parse(storage.getItem(`streamrelay:position:${id}`));
  assert.deepEqual([stored.seq, stored.epoch], [reply.seq, reply.epoch]);
});
