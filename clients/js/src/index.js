export { Applier } from "./applier.js";
export { Client, connect } from "./client.js";
export { defaultStorage, memoryStorage, Position } from "./position.js";
export { EVENTS, Session } from "./session.js";
export { SessionError } from "./session_error.js";
