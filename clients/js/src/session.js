// One chat session over a phoenix Channel: join with resume, events, pushes,
// presence, and exactly-once application of changes (see applier.js).
//
// The join params are a function, which phoenix.js calls again for every
// rejoin (after a reconnect or a `phx_error`), so each rejoin sends `since`
// with the last position this tab saw and the server replays what it missed.

import { Presence } from "phoenix";

import { Applier } from "./applier.js";
import { SessionError } from "./session_error.js";
import { Position } from "./position.js";

export const EVENTS = [
  "user_message", "message_processing", "streaming_status", "streaming_changes", "streaming_chunk",
  "streaming_error", "streaming_tool", "new_message", "changes_applied", "messages_deleted", "session_updated",
  "session_deleted",
];
// Besides the session's events: "join" (every successful join and rejoin, with its reply),
// "presence" (the list of who is here, on every change), "error" (a join or rejoin refused).
const LOCAL_EVENTS = ["join", "presence", "error"];
// Join refusals that retrying cannot cure: phoenix.js would rejoin forever, so the session leaves.
const FINAL_REASONS = new Set(["unauthorized", "not_found", "ai_assistant_disabled", "bad_request", "unmatched topic"]);

export class Session {
  constructor(socket, id, { storage } = {}) {
    this.id = id;
    this.topic = `ai_session:${id}`;
    this.position = new Position(id, storage);
    this.listeners = new Map([...EVENTS, ...LOCAL_EVENTS].map((name) => [name, new Set()]));
    this.channel = socket.channel(this.topic, () => this.position.params());
    this.applier = new Applier((changeId) => this.push("claim_changes", { change_id: changeId }).then((r) => r.granted));
    this.presenceState = new Presence(this.channel);
    this.presenceState.onSync(() => this.emit("presence", this.presence()));
    this.joining = null;
    for (const event of EVENTS) this.channel.on(event, (payload) => this.receive(event, payload));
  }

  /** Listen to a session event, "join", "presence" or "error"; returns a function that stops listening. */
  on(event, listener) {
    const listeners = this.listeners.get(event);
    if (!listeners) throw new Error(`unknown session event ${JSON.stringify(event)}`);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Run `handler({change_id, changes, message_id})` once per change per session, across every tab. */
  onApply(handler) {
    this.applier.setHandler(handler);
  }

  /** Join (resuming from the stored position); resolves with the first join reply. */
  join(timeoutMs = 10000) {
    if (this.joining) return this.joining;
    this.joining = new Promise((resolve, reject) => {
      let first = true;
      this.channel.join(timeoutMs)
        .receive("ok", (reply) => {
          this.joined(reply);
          if (first) resolve(reply);
          first = false;
        })
        .receive("error", (response) => {
          const error = new SessionError(response?.reason ?? "error", response?.message);
          if (FINAL_REASONS.has(error.reason)) this.channel.leave();
          if (first) reject(error);
          else this.emit("error", error);
        })
        .receive("timeout", () => {
          if (first) reject(new SessionError("timeout", "the server did not answer the join in time"));
          first = false;
        });
    });
    return this.joining;
  }

  /** Post a message; resolves with `{message_id, response_message_id}`. With `edit` (the id of the session's
   * last user message): edit and resend, that message and what follows it are removed (`messages_deleted`). */
  send(content, { edit } = {}) {
    return this.push("new_message", edit ? { content, edit } : { content });
  }

  /** A new answer to the last user message in place of the last answer; resolves like `send`. */
  regenerate() {
    return this.push("regenerate", {});
  }

  /** Stop the running generation; resolves with `{message_id}` (null when none ran). */
  stop() {
    return this.push("stop", {});
  }

  /** Who is here: `[{user_id, metas: [{phx_ref, joined_at, name?}]}]`, one entry per user. */
  presence() {
    return this.presenceState.list((userId, { metas }) => ({ user_id: userId, metas }));
  }

  /** Leave the session; resolves once the server confirmed (or after the timeout). */
  leave(timeoutMs = 10000) {
    this.position.save();
    return new Promise((resolve) => {
      this.channel.leave(timeoutMs).receive("ok", () => resolve()).receive("timeout", () => resolve());
    });
  }

  push(event, payload, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      this.channel.push(event, payload, timeoutMs)
        .receive("ok", resolve)
        .receive("error", (response) => reject(new SessionError(response?.reason ?? "error", response?.message)))
        .receive("timeout", () => reject(new SessionError("timeout", `the server did not answer ${event} in time`)));
    });
  }

  joined(reply) {
    this.position.joined(reply);
    // Resumed (`recovered`), the server sends no snapshot: the message in flight is the one this tab
    // followed up to its position (kept with it across a reload), so every join reply reads alike.
    if (reply.recovered) reply.streaming = this.position.streaming && structuredClone(this.position.streaming);
    for (const message of reply.messages ?? []) this.applier.offerMessage(message);
    if (reply.streaming) this.applier.offerMessage(reply.streaming);
    this.emit("join", reply);
  }

  receive(event, payload) {
    if (!this.position.advance(event, payload)) return; // seen already (the server never resends; belt and braces)
    if (event === "streaming_changes") this.applier.offer(payload);
    else if (event === "new_message") this.applier.offerMessage(payload.message);
    else if (event === "changes_applied") this.applier.settle(payload.change_id);
    else if (event === "session_deleted") this.position.forget();
    this.emit(event, payload);
  }

  emit(event, payload) {
    for (const listener of this.listeners.get(event)) {
      try {
        listener(payload);
      } catch (error) {
        console.error(`streamrelay: a ${event} listener failed`, error);
      }
    }
  }
}
