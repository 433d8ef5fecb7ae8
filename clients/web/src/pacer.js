// Reveals streamed text at a steady rate that adapts to the backlog.
//
// Upstream text arrives in bursts (a chunk of 2,000 characters, then nothing,
// then a trickle). Each tick reveals max(minRate, backlog / drainSeconds)
// characters per second: a trickle types out at minRate, a burst is spread
// over a few hundred milliseconds and caught up exponentially. Whatever has
// waited maxLagMs is revealed at once, so the text is never further behind.
// The clock is injectable so tests step time instead of sleeping.

export const realClock = {
  now: () => (typeof performance !== "undefined" ? performance.now() : Date.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

export class Pacer {
  /**
   * @param {(text: string) => void} onReveal called with each newly revealed piece, in order
   */
  constructor(onReveal, { clock = realClock, tickMs = 16, minRate = 400, drainSeconds = 0.25, maxLagMs = 900 } = {}) {
    this.onReveal = onReveal;
    this.clock = clock;
    this.tickMs = tickMs;
    this.minRate = minRate;
    this.drainSeconds = drainSeconds;
    this.maxLagMs = maxLagMs;
    this.queue = []; // [{text, at, revealed}] in arrival order; only the first is ever partly revealed
    this.pending = 0; // characters not yet revealed
    this.credit = 0; // fractional characters earned but not yet revealed
    this.last = 0;
    this.timer = null;
  }

  push(text) {
    if (!text) return;
    const now = this.clock.now();
    if (this.pending === 0) this.last = now;
    this.queue.push({ text, at: now, revealed: 0 });
    this.pending += text.length;
    this.schedule();
  }

  /** Reveal everything now (the message ended, or the tab is hidden). */
  flush() {
    this.reveal(this.pending);
  }

  /** Drop what has not been revealed (the message was reset). */
  clear() {
    this.queue = [];
    this.pending = 0;
    this.credit = 0;
    this.cancel();
  }

  tick() {
    this.timer = null;
    const now = this.clock.now();
    const seconds = Math.max(0, now - this.last) / 1000;
    this.last = now;
    const rate = Math.max(this.minRate, this.pending / this.drainSeconds);
    this.credit += rate * seconds;
    const due = Math.max(Math.floor(this.credit), this.overdue(now));
    this.credit -= Math.floor(this.credit);
    this.reveal(due);
    this.schedule();
  }

  /** Characters that have waited maxLagMs or longer. */
  overdue(now) {
    let count = 0;
    for (const piece of this.queue) {
      if (now - piece.at < this.maxLagMs) break;
      count += piece.text.length - piece.revealed;
    }
    return count;
  }

  reveal(count) {
    let want = Math.min(count, this.pending);
    let out = "";
    while (want > 0 && this.queue.length > 0) {
      const piece = this.queue[0];
      const start = piece.revealed;
      let end = Math.min(piece.text.length, start + want);
      if (end < piece.text.length && isHighSurrogate(piece.text.charCodeAt(end - 1))) end += 1; // keep pairs whole
      out += piece.text.slice(start, end);
      want -= end - start;
      this.pending -= end - start;
      if (end === piece.text.length) this.queue.shift();
      else piece.revealed = end;
    }
    if (this.pending === 0) this.cancel();
    if (out) this.onReveal(out);
  }

  schedule() {
    if (this.timer === null && this.pending > 0) this.timer = this.clock.setTimeout(() => this.tick(), this.tickMs);
  }

  cancel() {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

function isHighSurrogate(code) {
  return code >= 0xd800 && code <= 0xdbff;
}
