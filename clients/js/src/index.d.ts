// Types of streamrelay-client (the contract is docs/protocol.md).

export interface Change {
  change_id: string;
  changes: { code?: string; yaml?: string; code_edits?: unknown; [key: string]: unknown };
  applied?: boolean;
}

export interface ToolCall {
  call_id: string;
  name: string;
  arguments: unknown;
  status: "started" | "finished" | "failed";
  result_preview?: string | null;
  error?: string | null;
}

export interface Message {
  id: string;
  session_id: string;
  role: "user" | "assistant";
  content: string;
  status: "processing" | "success" | "error" | "cancelled" | "interrupted";
  changes: Change[];
  tool_calls?: ToolCall[];
  usage: { input_tokens?: number; output_tokens?: number; estimated?: boolean };
  error: string | null;
  created_at: string;
  completed_at: string | null;
  [key: string]: unknown;
}

export interface SessionInfo {
  id: string;
  user_id?: string;
  title: string;
  context: { workflow_yaml?: string; job_code?: string; [key: string]: unknown };
  revision?: number;
  created_at: string;
  updated_at: string;
  [key: string]: unknown;
}

export interface JoinReply {
  epoch: string;
  seq: number;
  recovered: boolean;
  session: SessionInfo;
  messages: Message[];
  /** the message in flight; when `recovered`, as this tab followed it up to `seq` (the client fills it in) */
  streaming: null | { message_id: string; content: string; status: string; changes: Change[]; tools?: ToolCall[]; seq: number };
  assistant?: { enabled: boolean; configured: boolean };
  [key: string]: unknown;
}

interface Pushed { seq: number; message_id: string | null }

export interface SessionEvents {
  user_message: Pushed & { message: Message };
  message_processing: Pushed & { session_id: string };
  streaming_status: Pushed & { text: string };
  streaming_changes: Pushed & Change & { applied: false };
  streaming_chunk: Pushed & { content: string };
  streaming_error: Pushed & { error: string; partial_content: string };
  streaming_tool: Pushed & ToolCall;
  new_message: Pushed & { message: Message };
  changes_applied: Pushed & { change_id: string; user_id: string };
  /** a regenerate or an edit-and-resend removed these stored messages (oldest first) */
  messages_deleted: Pushed & { message_ids: string[] };
  session_updated: Pushed & { session: SessionInfo };
  session_deleted: Pushed & { session_id: string };
  /** every successful join and rejoin (render the snapshot again when `recovered` is false) */
  join: JoinReply;
  /** who is here, on every change */
  presence: PresenceEntry[];
  /** a rejoin refused by the server */
  error: SessionError;
}

export interface PresenceMeta { phx_ref: string; joined_at: string | number; name?: string; [key: string]: unknown }
export interface PresenceEntry { user_id: string; metas: PresenceMeta[] }

export interface AppliedChange { change_id: string; changes: Change["changes"]; message_id: string | null }

/** The part of the Web Storage API a position needs (sessionStorage fits). */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export declare class SessionError extends Error {
  constructor(reason: string, message?: string);
  /** the server's code: busy, not_found, unavailable, ai_assistant_disabled, usage_limit, timeout, … */
  reason: string;
}

export declare class Session {
  readonly id: string;
  readonly topic: string;
  on<E extends keyof SessionEvents>(event: E, listener: (payload: SessionEvents[E]) => void): () => void;
  /** `handler` runs once per change per session, across every tab, reload and late join. */
  onApply(handler: (change: AppliedChange) => void | Promise<void>): void;
  join(timeoutMs?: number): Promise<JoinReply>;
  /** `edit`: the id of the session's last user message, replaced by `content` (edit and resend) */
  send(content: string, options?: { edit?: string }): Promise<{ message_id: string; response_message_id: string }>;
  /** a new answer to the last user message, in place of the last answer */
  regenerate(): Promise<{ message_id: string; response_message_id: string }>;
  stop(): Promise<{ message_id: string | null }>;
  presence(): PresenceEntry[];
  leave(timeoutMs?: number): Promise<void>;
}

export interface ConnectOptions {
  /** the socket endpoint: "ws://host:8000/socket" (http(s) works too; "/socket" in a page) */
  url: string;
  /** the user's JWT, or a function returning the current one (called on every reconnect) */
  token: string | (() => string);
  /** a WebSocket class; Node: `import WebSocket from "ws"` */
  transport?: unknown;
  /** passed on to phoenix's Socket (heartbeatIntervalMs, reconnectAfterMs, logger, …) */
  socketOptions?: Record<string, unknown>;
}

export declare class Client {
  constructor(options: ConnectOptions);
  /** the phoenix Socket (phoenix ships no types) */
  readonly socket: any;
  session(id: string, options?: { storage?: PositionStorage }): Session;
  disconnect(): Promise<void>;
}

export declare function connect(options: ConnectOptions): Client;

export declare class Applier {
  constructor(claim: (changeId: string) => Promise<boolean>, options?: { onError?: (error: unknown) => void });
  setHandler(handler: (change: AppliedChange) => void | Promise<void>): void;
  offer(change: Change & { message_id?: string | null }): void;
  offerMessage(message: { id?: string; message_id?: string; changes?: Change[] }): void;
  settle(changeId: string): void;
  /** resolves once every handler granted so far has run */
  idle(): Promise<void>;
}

export declare const EVENTS: readonly (keyof SessionEvents)[];
export declare class Position {
  constructor(sessionId: string, storage?: PositionStorage);
  readonly current: { seq: number; epoch: string } | null;
  /** the message in flight as this tab followed it up to `current` (kept with it across a reload) */
  readonly streaming: JoinReply["streaming"];
  save(): void;
  params(): { since?: { seq: number; epoch: string } };
  forget(): void;
}
export declare function defaultStorage(): PositionStorage;
export declare function memoryStorage(): PositionStorage;
