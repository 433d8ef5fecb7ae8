// The official Phoenix JavaScript client, unchanged, against a streamrelay gateway.
//
//   node client.mjs '{"url": "http://127.0.0.1:PORT", "token": "...", "session": "...", "content": "..."}'
//
// Optional config: "heartbeatIntervalMs", "timeoutMs". It joins ai_session:<session>,
// pushes new_message, collects every push until new_message, claims the change it saw
// and prints one JSON line {"kind": "result", ...}. Along the way it prints one JSON line
// per join reply ({"kind": "join"}), heartbeat reply ({"kind": "heartbeat"}) and pushed
// event ({"kind": "event"}), so that a test can disturb the connection mid-stream;
// stdout carries nothing else.
//
// Resuming: the join params are a FUNCTION, which phoenix.js calls again for every
// (re)join. Once the client holds a position it returns {since: {seq, epoch}}, so a
// rejoin after phx_error or a reconnect asks the server for exactly the missed events.

import { Socket } from "phoenix";
import WebSocket from "ws";

const config = JSON.parse(process.argv[2]);
const topic = `ai_session:${config.session}`;
const emit = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const events = [];            // {event, seq, message_id, ...} in arrival order
const joins = [];             // every join attempt: {params, status, seq, epoch, recovered, ...}
let position = null;          // {seq, epoch} of the last event or join reply seen
let content = "";             // the streamed answer, rebuilt from snapshot and chunks
let streamingId = null;       // message_id of the generation being streamed
let changeId = null;          // change_id of the streaming_changes seen
let heartbeats = 0;           // heartbeat replies received
let opens = 0, closes = 0;
const logs = [];              // phoenix.js's own "transport" and "channel" log lines
let sent = false;

function finish(result, code = 0) {
  emit({ kind: "result", ...result, events, joins, heartbeats, opens, closes, logs });
  socket.disconnect(() => process.exit(code), 1000, "done");
  setTimeout(() => process.exit(code), 500).unref();
}

const timer = setTimeout(() => finish({ ok: false, error: "timed out", content }, 1), config.timeoutMs ?? 15000);

const socket = new Socket(config.url.replace(/^http/, "ws") + "/socket", {
  params: { token: config.token },
  transport: WebSocket,
  heartbeatIntervalMs: config.heartbeatIntervalMs ?? 30000,
  reconnectAfterMs: () => 50,
  rejoinAfterMs: () => 100,
  logger: (kind, msg) => { if (kind === "transport" || kind === "channel") logs.push(`${kind}: ${msg}`); },
});
socket.onOpen(() => { opens += 1; });
socket.onClose(() => { closes += 1; });
socket.onMessage(({ topic: t, event, payload }) => {
  if (t === "phoenix" && event === "phx_reply" && payload.status === "ok") {
    heartbeats += 1;
    emit({ kind: "heartbeat", count: heartbeats });
  }
});

let lastParams = null;        // the params phoenix.js sent with the latest join
const channel = socket.channel(topic, () => {
  lastParams = position ? { since: position } : {};
  return lastParams;
});

for (const name of ["user_message", "message_processing", "streaming_status", "streaming_changes",
                    "streaming_chunk", "streaming_error", "new_message"]) {
  channel.on(name, (payload) => onEvent(name, payload));
}

function onEvent(event, payload) {
  const record = { event, seq: payload.seq, message_id: payload.message_id };
  position = { seq: payload.seq, epoch: position.epoch };
  if (event === "message_processing") { streamingId = payload.message_id; content = ""; }
  if (event === "streaming_chunk" && payload.message_id === streamingId) { content += payload.content; record.content = payload.content; }
  if (event === "streaming_changes") { changeId = payload.change_id; record.change_id = payload.change_id; }
  if (event === "streaming_error") record.error = payload.error;
  events.push(record);
  emit({ kind: "event", ...record });
  if (event === "new_message" && payload.message_id === streamingId) done(payload.message);
}

function onJoin(params, status, response) {
  const join = { params, status };
  if (status === "ok") {
    Object.assign(join, { seq: response.seq, epoch: response.epoch, recovered: response.recovered,
                          streaming: response.streaming, messages: response.messages.length });
    if (!response.recovered && response.streaming) {
      // The snapshot stands in for what was missed: take over its content.
      streamingId = response.streaming.message_id;
      content = response.streaming.content;
    }
    position = { seq: response.seq, epoch: response.epoch };
  } else {
    join.reason = response && response.reason;
  }
  joins.push(join);
  emit({ kind: "join", ...join });
}

// phoenix.js re-sends this same join push on every rejoin (evaluating the params function
// again) and runs its receive hooks each time, so they see every join, not only the first.
channel.join()
  .receive("ok", (response) => {
    onJoin(lastParams, "ok", response);
    if (!sent) {
      sent = true;
      channel.push("new_message", { content: config.content })
        .receive("ok", (reply) => { streamingId = streamingId ?? reply.response_message_id; })
        .receive("error", (reply) => finish({ ok: false, error: `new_message refused: ${reply.reason}` }, 1));
    }
  })
  .receive("error", (response) => {
    onJoin(lastParams, "error", response);
    if (joins.every((j) => j.status !== "ok")) finish({ ok: false, error: `join refused: ${response.reason}` }, 1);
  });

function done(message) {
  const claim = (reply) => {
    clearTimeout(timer);
    finish({ ok: true, content, message, change_id: changeId, claim: reply });
  };
  if (changeId === null) return claim(null);
  channel.push("claim_changes", { change_id: changeId })
    .receive("ok", (response) => claim({ status: "ok", response }))
    .receive("error", (response) => claim({ status: "error", response }))
    .receive("timeout", () => claim({ status: "timeout" }));
}

socket.connect();
