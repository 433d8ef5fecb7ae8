import assert from "node:assert/strict";
import { test } from "node:test";

import { Applier } from "../src/index.js";

/** An Applier whose claims wait for the test to answer them. */
function applier() {
  const claims = [];
  const applied = [];
  const made = new Applier((changeId) => new Promise((resolve, reject) => claims.push({ changeId, resolve, reject })));
  return { made, claims, applied, handler: (change) => applied.push(change.change_id) };
}

const A = { change_id: "a".repeat(64), changes: { yaml: "a: 1" } };

test("without a handler nothing is claimed; setting one claims what was offered", async () => {
  const { made, claims, applied, handler } = applier();
  made.offer(A);
  assert.equal(claims.length, 0, "a tab that cannot apply must not take the change from one that can");
  made.setHandler(handler);
  assert.deepEqual(claims.map((c) => c.changeId), [A.change_id]);
  claims[0].resolve(true);
  await made.idle();
  assert.deepEqual(applied, [A.change_id]);
});

test("a change offered again while its claim is out, or after, is claimed once and applied once", async () => {
  const { made, claims, applied, handler } = applier();
  made.setHandler(handler);
  made.offer(A);
  made.offerMessage({ id: "m1", changes: [{ ...A, applied: false }] });
  claims[0].resolve(true);
  await made.idle();
  made.offer(A);
  await made.idle();
  assert.equal(claims.length, 1);
  assert.deepEqual(applied, [A.change_id]);
});

test("changes_applied arriving before the grant does not cancel this tab's granted handler", async () => {
  const { made, claims, applied, handler } = applier();
  made.setHandler(handler);
  made.offer(A);
  made.settle(A.change_id); // the server announces the grant (to us) before our reply arrives
  claims[0].resolve(true);
  await made.idle();
  assert.deepEqual(applied, [A.change_id]);
});

test("applied changes and changes applied elsewhere are never claimed; refused claims never run", async () => {
  const { made, claims, applied, handler } = applier();
  made.setHandler(handler);
  made.offer({ ...A, applied: true });
  made.settle("b".repeat(64));
  made.offer({ change_id: "b".repeat(64), changes: {} });
  assert.equal(claims.length, 0);
  made.offer({ change_id: "c".repeat(64), changes: {} });
  claims[0].resolve(false);
  await made.idle();
  assert.deepEqual(applied, []);
});

test("a claim that failed is made again the next time the change is offered", async () => {
  const { made, claims, applied, handler } = applier();
  made.setHandler(handler);
  made.offer(A);
  claims[0].reject(new Error("timeout"));
  await made.idle();
  made.offer(A); // e.g. the next join reply lists it again
  claims[1].resolve(true);
  await made.idle();
  assert.deepEqual(applied, [A.change_id]);
});

test("handlers run one at a time, in grant order, even when they are async", async () => {
  const { made, claims } = applier();
  const order = [];
  made.setHandler(async (change) => {
    order.push(`start ${change.change_id[0]}`);
    await new Promise((resolve) => setImmediate(resolve));
    order.push(`end ${change.change_id[0]}`);
  });
  made.offer(A);
  made.offer({ change_id: "b".repeat(64), changes: {} });
  claims[0].resolve(true);
  claims[1].resolve(true);
  await made.idle();
  assert.deepEqual(order, ["start a", "end a", "start b", "end b"]);
});
