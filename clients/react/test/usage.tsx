// Compiled (not run) by types.test.mjs: the README's usage, type-checked against src/index.d.ts.

import { useState } from "react";
import type { AppliedChange, Client } from "streamrelay-client";

import { useApply, usePresence, useSession } from "streamrelay-react";

export function Chat({ client, sessionId }: { client: Client; sessionId: string }) {
  const { messages, streaming, status, presence, send, stop, error, session } = useSession(client, sessionId);
  const here = usePresence(session);
  const [draft, setDraft] = useState("");
  useApply(session, (change: AppliedChange) => {
    const yaml: unknown = change.changes.yaml;
    return void yaml;
  });
  const busy: boolean = status === "streaming";
  const text: string = streaming ? streaming.content : "";
  const firstId: string | undefined = messages[0]?.id;
  const reason: string | undefined = error && "reason" in error ? error.reason : undefined;
  const users: string[] = [...presence, ...here].map((entry) => entry.user_id);
  void send(draft).then(({ response_message_id }) => response_message_id.length);
  void stop().then(({ message_id }) => message_id);
  setDraft("");
  return [busy, text, firstId, reason, users];
}
