import assert from "node:assert/strict";
import { test } from "node:test";

import { memoryStorage, Position } from "../src/index.js";

const push = (position, event, payload) => position.advance(event, { message_id: "m1", ...payload });

test("a position follows the message in flight and saves both together, for the next page", () => {
  const storage = memoryStorage();
  const position = new Position("s1", storage);
  position.joined({ seq: 4, epoch: "e1", recovered: false, streaming: null });
  assert.ok(push(position, "message_processing", { seq: 5 }));
  assert.ok(push(position, "streaming_chunk", { seq: 6, content: "Hel" }));
  assert.ok(push(position, "streaming_changes", { seq: 7, change_id: "c1", changes: { yaml: "a: 1" } }));
  assert.ok(push(position, "streaming_chunk", { seq: 8, content: "lo" }));
  assert.equal(push(position, "streaming_chunk", { seq: 8, content: "lo" }), false, "seen already");
  position.save(); // what a pagehide (or the throttle) does

  const reloaded = new Position("s1", storage);
  assert.deepEqual(reloaded.params(), { since: { seq: 8, epoch: "e1" } });
  assert.deepEqual(reloaded.streaming, {
    message_id: "m1", content: "Hello", status: "processing", seq: 8,
    changes: [{ change_id: "c1", changes: { yaml: "a: 1" }, applied: false }],
  });
  reloaded.joined({ seq: 8, epoch: "e1", recovered: true, streaming: null });
  assert.equal(reloaded.streaming.content, "Hello", "a resumed join keeps what the tab had");
  reloaded.joined({ seq: 2, epoch: "e2", recovered: false, streaming: null });
  assert.equal(reloaded.streaming, null, "a fresh snapshot replaces it");
  assert.ok(push(reloaded, "new_message", { seq: 3, message: {} }));
  assert.equal(reloaded.streaming, null);
});
