// Runs a tab's apply handler exactly once per change per session.
//
// Every tab sees the same changes (early `streaming_changes`, the snapshot of a
// late join, the history, the final message). The server grants a claim on a
// change id to exactly one claimant ever, so a tab applies a change only when
// its own claim is granted; changes marked `applied` (or announced by
// `changes_applied`) are settled without a claim. Locally a change id is
// claimed at most once and its handler runs at most once, in the order the
// grants arrive.
//
// A claim that fails (timeout, broker unavailable) is forgotten, so the change
// is claimed again the next time it is offered (every rejoin re-offers the
// join reply's changes). A tab that is granted a change and closes before its
// handler ran loses that change: the server cannot tell it from one applied.

export class Applier {
  /** @param {(changeId: string) => Promise<boolean>} claim asks the server; resolves with `granted` */
  constructor(claim, { onError = (error) => console.error("streamrelay: apply handler failed", error) } = {}) {
    this.claim = claim;
    this.onError = onError;
    this.handler = null;
    this.waiting = new Map(); // change_id -> change, offered while no handler was set
    this.claiming = new Set();
    this.settled = new Set(); // applied somewhere (by us, another tab, before we came)
    this.ran = new Set();
    this.inflight = new Set(); // claim promises not yet decided
    this.queue = Promise.resolve();
  }

  setHandler(handler) {
    this.handler = handler;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const change of waiting) this.offer(change);
  }

  /** A change seen anywhere: `{change_id, changes, applied?, message_id?}`. */
  offer(change) {
    const id = change.change_id;
    if (typeof id !== "string" || this.settled.has(id) || this.claiming.has(id)) return;
    if (change.applied) {
      this.settle(id);
      return;
    }
    if (this.handler === null) {
      this.waiting.set(id, change);
      return;
    }
    this.claiming.add(id);
    const decision = this.claim(id).then(
      (granted) => this.decided(change, granted === true),
      () => this.claiming.delete(id),
    );
    this.inflight.add(decision);
    decision.finally(() => this.inflight.delete(decision));
  }

  /** Every change of a message: `message.changes[]` of the history, the snapshot or `new_message`. */
  offerMessage(message) {
    for (const change of message.changes ?? []) this.offer({ ...change, message_id: message.id ?? message.message_id });
  }

  /** Applied elsewhere (`changes_applied`, or `applied: true`): never claim it. */
  settle(changeId) {
    this.settled.add(changeId);
    this.waiting.delete(changeId);
  }

  /** Resolves once every claim made so far is decided and every granted handler has run. */
  async idle() {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    await this.queue;
  }

  decided(change, granted) {
    const id = change.change_id;
    this.claiming.delete(id);
    this.settle(id);
    if (!granted || this.ran.has(id)) return;
    this.ran.add(id);
    const applied = { change_id: id, changes: change.changes, message_id: change.message_id ?? null };
    this.queue = this.queue.then(() => this.handler(applied)).catch(this.onError);
  }
}
