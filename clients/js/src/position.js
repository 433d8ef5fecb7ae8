// Where a tab is in a session's history: the last {seq, epoch} it has seen.
//
// Kept in a Storage (sessionStorage by default, so a reload resumes where the
// tab was while another tab keeps its own position) and sent as `since` on
// every join and rejoin.

/** A Storage kept in memory: where there is no sessionStorage (Node) a position lasts as long as the process. */
export function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, String(value)); },
    removeItem: (key) => { items.delete(key); },
  };
}

export function defaultStorage() {
  try {
    if (typeof globalThis.sessionStorage !== "undefined") return globalThis.sessionStorage;
  } catch {
    // a sandboxed frame may refuse access to sessionStorage
  }
  return memoryStorage();
}

export class Position {
  constructor(sessionId, storage = defaultStorage(), { saveEveryMs = 250 } = {}) {
    this.key = `streamrelay:position:${sessionId}`;
    this.storage = storage;
    this.saveEveryMs = saveEveryMs;
    this.timer = null;
    const saved = read(storage, this.key);
    this.current = saved && { seq: saved.seq, epoch: saved.epoch };
    // The message in flight as of `current` ({message_id, content, status, changes, seq}), so that a
    // reloaded page resumed with `since` still has the text that came before its position.
    this.streaming = saved?.streaming ?? null;
    globalThis.addEventListener?.("pagehide", () => this.save());
  }

  /** Join params: resume from the stored position, if any. */
  params() {
    return this.current ? { since: { seq: this.current.seq, epoch: this.current.epoch } } : {};
  }

  /** The join reply names the position it reflects; without a resume its snapshot replaces ours. */
  joined(reply) {
    this.current = { seq: reply.seq, epoch: reply.epoch };
    if (!reply.recovered) this.streaming = reply.streaming ? structuredClone(reply.streaming) : null;
    this.save();
  }

  /** Whether an event is new to this tab; if so it moves the position and the message in flight. */
  advance(event, payload) {
    const seq = payload.seq;
    if (!Number.isInteger(seq) || this.current === null) return true;
    if (seq <= this.current.seq) return false;
    this.current = { seq, epoch: this.current.epoch };
    this.follow(event, payload);
    this.later();
    return true;
  }

  follow(event, payload) {
    if (event === "message_processing") {
      this.streaming = { message_id: payload.message_id, content: "", status: "processing", changes: [] };
    } else if (event === "new_message" || event === "session_deleted") {
      this.streaming = null;
    } else if (this.streaming !== null && payload.message_id === this.streaming.message_id) {
      if (event === "streaming_chunk") this.streaming.content += payload.content;
      else if (event === "streaming_status") this.streaming.status = payload.text;
      else if (event === "streaming_changes") {
        this.streaming.changes.push({ change_id: payload.change_id, changes: payload.changes, applied: false });
      }
    }
    if (this.streaming !== null) this.streaming.seq = payload.seq;
  }

  forget() {
    this.current = null;
    this.streaming = null;
    this.cancel();
    this.storage.removeItem(this.key);
  }

  /** Save soon: position and message in flight together, at most every saveEveryMs. */
  later() {
    if (this.timer === null) {
      this.timer = setTimeout(() => this.save(), this.saveEveryMs);
      this.timer.unref?.(); // Node: a pending save does not keep the process alive
    }
  }

  save() {
    this.cancel();
    if (this.current === null) return;
    try {
      this.storage.setItem(this.key, JSON.stringify({ ...this.current, streaming: this.streaming }));
    } catch {
      // a full or refused storage only costs the resume after a reload
    }
  }

  cancel() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

function read(storage, key) {
  try {
    const value = JSON.parse(storage.getItem(key));
    if (value && Number.isInteger(value.seq) && typeof value.epoch === "string") return value;
  } catch {
    // unreadable: start without a position
  }
  return null;
}
