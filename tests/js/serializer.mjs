// phoenix.js's own Serializer on frames given as hex: decodes each server frame, and encodes a binary push.
// Usage: node serializer.mjs '{"decode": ["<hex>", ...], "push": {join_ref, ref, topic, event, payload: "<hex>"}}'
import { Serializer } from "phoenix";

const hex = (buffer) => Buffer.from(buffer).toString("hex");
const config = JSON.parse(process.argv[2]);
const decoded = config.decode.map((frame) => {
  const bytes = Buffer.from(frame, "hex");
  let message;
  Serializer.decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), (m) => (message = m));
  const { payload } = message;
  const binary = payload instanceof ArrayBuffer ? hex(payload) : { status: payload.status, response: hex(payload.response) };
  return { ...message, payload: binary };
});
const push = config.push;
const data = Buffer.from(push.payload, "hex");
let encoded;
Serializer.encode({ ...push, payload: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }, (frame) => {
  encoded = hex(frame);
});
console.log(JSON.stringify({ decoded, encoded }));
