// One session's state for React: what a chat renders, kept from the session's events as immutable snapshots
// (a new object on every change, the same one otherwise), so useSyncExternalStore can read it at any time.

const EMPTY = Object.freeze([]);

/** The state before (or without) a session. */
export function idleState(sessionId = null) {
  return {
    sessionId,
    session: null, // the streamrelay-client Session, once opened: for useApply and usePresence
    info: null, // the session row (title, context, revision, …)
    messages: EMPTY,
    streaming: null, // the answer in flight: {message_id, content, status, changes, tool_calls}
    status: "idle", // idle | joining | ready | streaming | error | deleted
    presence: EMPTY,
    error: null,
  };
}

const upsert = (messages, message) => {
  const index = messages.findIndex((m) => m.id === message.id);
  if (index === -1) return [...messages, message];
  const copy = [...messages];
  copy[index] = message;
  return copy;
};

const inFlight = (streaming) =>
  streaming && { tool_calls: [], ...streaming, changes: [...(streaming.changes ?? [])] };

export class SessionStore {
  constructor(client, sessionId, { storage } = {}) {
    this.client = client;
    this.sessionId = sessionId;
    this.storage = storage;
    this.listeners = new Set();
    this.session = null;
    this.state = { ...idleState(sessionId), send: this.send, stop: this.stop };
  }

  subscribe = (listener) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = () => this.state;

  /** Post a message; the session's `error` tells of a refusal too (busy, usage_limit, …). */
  send = (content) => this.pushing(() => this.session.send(content));

  /** Stop the answer in flight (from any tab). */
  stop = () => this.pushing(() => this.session.stop());

  /** Join the session and follow it; returns the function that leaves it (an effect's cleanup). */
  open() {
    if (!this.client || !this.sessionId) return () => {};
    const session = this.client.session(this.sessionId, this.storage ? { storage: this.storage } : {});
    this.session = session;
    const on = (event, handle) => session.on(event, (payload) => this.session === session && handle(payload));
    const stops = [
      on("join", (reply) => this.update({
        info: reply.session, messages: reply.messages ?? EMPTY, streaming: inFlight(reply.streaming), error: null,
        status: reply.streaming ? "streaming" : "ready",
      })),
      on("user_message", ({ message }) => this.update({ messages: upsert(this.state.messages, message) })),
      on("message_processing", ({ message_id }) => this.update({
        streaming: { message_id, content: "", status: "", changes: [], tool_calls: [] }, status: "streaming",
      })),
      on("streaming_chunk", (event) => this.following(event, (s) => ({ content: s.content + event.content }))),
      on("streaming_status", (event) => this.following(event, () => ({ status: event.text }))),
      on("streaming_changes", (event) => this.following(event, (s) => ({
        changes: [...s.changes, { change_id: event.change_id, changes: event.changes, applied: false }],
      }))),
      on("streaming_tool", ({ seq, message_id, ...call }) => this.following({ message_id }, (s) => ({
        tool_calls: [...s.tool_calls.filter((c) => c.call_id !== call.call_id), call],
      }))),
      on("new_message", ({ message }) => {
        const ended = this.state.streaming?.message_id === message.id;
        this.update({
          messages: upsert(this.state.messages, message),
          ...(ended ? { streaming: null, status: "ready" } : {}),
        });
      }),
      on("messages_deleted", ({ message_ids }) => {
        const gone = new Set(message_ids);
        const streamingGone = gone.has(this.state.streaming?.message_id);
        this.update({
          messages: this.state.messages.filter((m) => !gone.has(m.id)),
          ...(streamingGone ? { streaming: null, status: "ready" } : {}),
        });
      }),
      on("changes_applied", ({ change_id }) => this.update({
        messages: this.state.messages.map((m) => m.changes?.some((c) => c.change_id === change_id && !c.applied)
          ? { ...m, changes: m.changes.map((c) => (c.change_id === change_id ? { ...c, applied: true } : c)) }
          : m),
      })),
      on("session_updated", ({ session: info }) => {
        if (!this.state.info || (info.revision ?? 0) >= (this.state.info.revision ?? 0)) this.update({ info });
      }),
      on("session_deleted", () => this.update({ status: "deleted", streaming: null })),
      on("presence", (presence) => this.update({ presence })),
      on("error", (error) => this.update({ error, status: "error" })),
    ];
    this.update({ session, status: "joining", error: null });
    session.join().catch((error) => this.session === session && this.update({ error, status: "error" }));
    return () => {
      for (const stop of stops) stop();
      if (this.session === session) this.session = null;
      session.leave();
    };
  }

  following(event, change) {
    const streaming = this.state.streaming;
    if (streaming && streaming.message_id === event.message_id) {
      this.update({ streaming: { ...streaming, ...change(streaming) } });
    }
  }

  async pushing(push) {
    if (!this.session) throw new Error("the session is not open");
    try {
      return await push();
    } catch (error) {
      this.update({ error });
      throw error;
    }
  }

  update(changes) {
    this.state = { ...this.state, ...changes };
    for (const listener of this.listeners) listener();
  }
}
