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
  constructor(sessionId, storage = defaultStorage()) {
    this.key = `streamrelay:position:${sessionId}`;
    this.storage = storage;
    this.current = read(storage, this.key);
  }

  /** Join params: resume from the stored position, if any. */
  params() {
    return this.current ? { since: { seq: this.current.seq, epoch: this.current.epoch } } : {};
  }

  /** The join reply names the position it reflects (a new epoch when history was lost). */
  joined(reply) {
    this.set({ seq: reply.seq, epoch: reply.epoch });
  }

  /** Whether an event with this seq is new to this tab; if so it becomes the position. */
  advance(seq) {
    if (!Number.isInteger(seq) || this.current === null) return true;
    if (seq <= this.current.seq) return false;
    this.set({ seq, epoch: this.current.epoch });
    return true;
  }

  forget() {
    this.current = null;
    this.storage.removeItem(this.key);
  }

  set(position) {
    this.current = position;
    try {
      this.storage.setItem(this.key, JSON.stringify(position));
    } catch {
      // a full or refused storage only costs the resume after a reload
    }
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
