// Types of streamrelay-react: hooks over streamrelay-client's sessions (docs/protocol.md is the contract).

import type { AppliedChange, Change, Client, Message, PositionStorage, PresenceEntry, Session, SessionError,
  SessionInfo, ToolCall } from "streamrelay-client";

/** The answer in flight, as far as it has streamed. */
export interface Streaming {
  message_id: string;
  content: string;
  /** the upstream's latest status line ("Searching documentation…"), "" before one */
  status: string;
  changes: Change[];
  tool_calls: ToolCall[];
}

export type SessionStatus = "idle" | "joining" | "ready" | "streaming" | "error" | "deleted";

export interface SessionState {
  sessionId: string | null;
  /** the streamrelay-client Session once joined (for useApply and usePresence); null before */
  session: Session | null;
  info: SessionInfo | null;
  /** stored messages, oldest first: the join's page, then every message saved, finished or removed */
  messages: readonly Message[];
  streaming: Streaming | null;
  status: SessionStatus;
  presence: readonly PresenceEntry[];
  /** the last refusal: a join (not_found, ai_assistant_disabled, …) or a push (busy, usage_limit, …) */
  error: SessionError | Error | null;
  send(content: string): Promise<{ message_id: string; response_message_id: string }>;
  stop(): Promise<{ message_id: string | null }>;
}

export interface UseSessionOptions {
  /** where the session's position is kept for a resume after a reload (default sessionStorage); read once */
  storage?: PositionStorage;
}

export declare function useSession(
  client: Client | null | undefined, sessionId: string | null | undefined, options?: UseSessionOptions,
): SessionState;

export declare function useApply(
  session: Session | null | undefined, handler: (change: AppliedChange) => void | Promise<void>,
): void;

export declare function usePresence(session: Session | null | undefined): readonly PresenceEntry[];

export declare function idleState(sessionId?: string | null): Omit<SessionState, "send" | "stop">;

export declare class SessionStore {
  constructor(client: Client | null | undefined, sessionId: string | null | undefined, options?: UseSessionOptions);
  subscribe(listener: () => void): () => void;
  getSnapshot(): SessionState;
  /** join and follow the session; returns the function that leaves it */
  open(): () => void;
}
