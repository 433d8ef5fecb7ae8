import assert from "node:assert/strict";
import { test } from "node:test";

import { Pacer } from "../src/pacer.js";
import { FakeClock } from "./clock.mjs";

/** A pacer on a fake clock that records when each character was revealed. */
function paced(options = {}) {
  const clock = new FakeClock();
  const shown = { text: "", times: [] };
  const pacer = new Pacer((piece) => {
    shown.text += piece;
    for (let i = 0; i < piece.length; i++) shown.times.push(clock.now());
  }, { clock, ...options });
  return { clock, pacer, shown };
}

test("a 2,000-character burst is spread over at least 250 ms and finished within 1.5 s", () => {
  const { clock, pacer, shown } = paced();
  const burst = "word ".repeat(400);
  pacer.push(burst);
  clock.advance(249);
  assert.ok(shown.text.length > 0, "the burst starts showing at once");
  assert.ok(shown.text.length < burst.length, `all ${burst.length} characters were shown within 249 ms`);
  clock.advance(1500 - 249);
  assert.equal(shown.text, burst);
  assert.equal(pacer.pending, 0);
});

test("the burst is revealed steadily, never in a lump", () => {
  const { clock, pacer, shown } = paced();
  pacer.push("x".repeat(2000));
  clock.advance(1500);
  const perTick = new Map();
  for (const t of shown.times) perTick.set(t, (perTick.get(t) ?? 0) + 1);
  assert.ok(perTick.size >= 15, `revealed in only ${perTick.size} steps`);
  assert.ok(Math.max(...perTick.values()) <= 200, "no step reveals more than a tenth of the burst");
});

for (const [chars, everyMs] of [[4, 30], [40, 50], [300, 100], [1500, 200]]) {
  test(`a steady stream of ${chars} characters every ${everyMs} ms is never more than 1 s behind`, () => {
    const { clock, pacer, shown } = paced();
    const arrivals = [];
    for (let n = 0; n < Math.ceil(10000 / everyMs); n++) {
      const piece = String(n % 10).repeat(chars);
      pacer.push(piece);
      for (let i = 0; i < piece.length; i++) arrivals.push(clock.now());
      clock.advance(everyMs);
    }
    clock.advance(1000);
    assert.equal(shown.times.length, arrivals.length);
    const worst = Math.max(...arrivals.map((at, i) => shown.times[i] - at));
    assert.ok(worst <= 1000, `a character waited ${worst} ms`);
  });
}

test("text is revealed in order and whole; flush shows the rest at once; clear drops it", () => {
  const { clock, pacer, shown } = paced();
  const text = "Héllo 👋 wörld — emoji 🎉 stay whole. ".repeat(40);
  pacer.push(text.slice(0, 100));
  pacer.push(text.slice(100));
  clock.advance(50);
  assert.ok(text.startsWith(shown.text));
  pacer.flush();
  assert.equal(shown.text, text);
  pacer.push("dropped");
  pacer.clear();
  clock.advance(2000);
  assert.equal(shown.text, text);
});

test("no emoji is ever cut in half at a reveal", () => {
  const clock = new FakeClock();
  const pieces = [];
  const pacer = new Pacer((piece) => pieces.push(piece), { clock, minRate: 70 });
  pacer.push("🎉".repeat(300));
  clock.advance(3000);
  assert.ok(pieces.length > 10);
  for (const piece of pieces) assert.ok(!/[\ud800-\udbff]$/.test(piece) && !/^[\udc00-\udfff]/.test(piece), piece);
  assert.equal(pieces.join(""), "🎉".repeat(300));
});

test("an idle pacer holds no timer", () => {
  const { clock, pacer } = paced();
  pacer.push("short");
  clock.advance(1000);
  assert.equal(clock.timers.size, 0);
});
