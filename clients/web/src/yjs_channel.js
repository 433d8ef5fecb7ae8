// A Yjs provider over a Phoenix channel: the document topic `doc:<session_id>:<name>` of streamrelay
// (docs/protocol.md, "Collaborative documents"), on yjs 13 and y-protocols 1.0.
//
// The wire protocol is y-phoenix-channel's: binary pushes carrying y-protocols v1 messages, `yjs_sync`
// with this tab's sync step 1 on every (re)join, `yjs` for everything else (step 2, updates,
// awareness), and the server's binary `yjs` pushes back.
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as awarenessProtocol from "y-protocols/awareness";
import * as syncProtocol from "y-protocols/sync";

const SYNC = 0;
const AWARENESS = 1;
const QUERY_AWARENESS = 3;
// Join refusals that retrying cannot cure: phoenix.js would rejoin forever, so the provider leaves.
const FINAL_REASONS = new Set(["unauthorized", "not_found", "ai_assistant_disabled", "bad_request", "unmatched topic"]);

function buffer(bytes) {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

export class ChannelProvider {
  /**
   * @param socket a connected phoenix `Socket` (vsn 2.0.0, the default)
   * @param topic `doc:<session_id>:<name>`
   * @param doc a `Y.Doc`
   */
  constructor(socket, topic, doc, { awareness = new awarenessProtocol.Awareness(doc) } = {}) {
    this.doc = doc;
    this.awareness = awareness;
    this.synced = false;
    this.listeners = new Map();
    this.channel = socket.channel(topic, {});
    this.channel.on("yjs", (payload) => this.receive(new Uint8Array(payload)));
    this.onDocUpdate = (update, origin) => {
      if (origin === this) return;
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, SYNC);
      syncProtocol.writeUpdate(encoder, update);
      this.send("yjs", encoder);
    };
    this.onAwarenessUpdate = ({ added, updated, removed }, origin) => {
      if (origin === this) return;
      this.sendAwareness(added.concat(updated, removed));
    };
    doc.on("update", this.onDocUpdate);
    awareness.on("update", this.onAwarenessUpdate);
  }

  /** Join; resolves once joined (rejoins after a reconnect sync again by themselves). */
  connect() {
    return new Promise((resolve, reject) => {
      this.channel
        .join()
        .receive("ok", () => {
          const encoder = encoding.createEncoder();
          encoding.writeVarUint(encoder, SYNC);
          syncProtocol.writeSyncStep1(encoder, this.doc);
          this.send("yjs_sync", encoder);
          if (this.awareness.getLocalState() !== null) this.sendAwareness([this.doc.clientID]);
          resolve();
        })
        .receive("error", (response) => {
          if (FINAL_REASONS.has(response.reason)) this.channel.leave();
          reject(Object.assign(new Error(response.message || response.reason), response));
        });
    });
  }

  on(event, handler) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(handler);
  }

  emit(event, value) {
    for (const handler of this.listeners.get(event) || []) handler(value);
  }

  receive(message) {
    const decoder = decoding.createDecoder(message);
    const type = decoding.readVarUint(decoder);
    if (type === SYNC) {
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, SYNC);
      const step = syncProtocol.readSyncMessage(decoder, encoder, this.doc, this);
      if (encoding.length(encoder) > 1) this.send("yjs", encoder);
      if (step === syncProtocol.messageYjsSyncStep2 && !this.synced) {
        this.synced = true;
        this.emit("synced", true);
      }
    } else if (type === AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this);
    } else if (type === QUERY_AWARENESS) {
      if (this.awareness.getLocalState() !== null) this.sendAwareness([this.doc.clientID]);
    }
  }

  sendAwareness(clients) {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, AWARENESS);
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients));
    this.send("yjs", encoder);
  }

  // Not joined (yet, or while reconnecting): nothing is lost, the sync of the next join exchanges it.
  send(event, encoder) {
    if (this.channel.canPush()) this.channel.push(event, buffer(encoding.toUint8Array(encoder)));
  }

  /** Leave: the others see this tab's cursor go. */
  destroy() {
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], "destroy");
    this.doc.off("update", this.onDocUpdate);
    this.awareness.off("update", this.onAwarenessUpdate);
    this.channel.leave();
  }
}
