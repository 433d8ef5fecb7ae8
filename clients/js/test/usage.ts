// Compiled (not run) by types.test.mjs: the README's usage must type-check against src/index.d.ts.
import { connect, SessionError, type JoinReply, type PresenceEntry } from "../src/index.js";

export async function usage(token: string, sessionId: string): Promise<void> {
  const client = connect({ url: "ws://localhost:8000/socket", token, transport: WebSocket });
  const session = client.session(sessionId);
  session.onApply(({ change_id, changes }) => console.log(change_id, changes.yaml ?? changes.code));
  session.on("streaming_chunk", ({ content, seq }) => console.log(seq, content));
  session.on("new_message", ({ message }) => console.log(message.status));
  session.on("changes_applied", ({ change_id, user_id }) => console.log(change_id, user_id));
  session.on("presence", (people: PresenceEntry[]) => console.log(people.length));
  // @ts-expect-error: a misspelt event is a type error
  session.on("streaming_chunks", () => {});
  session.on("join", (reply: JoinReply) => console.log(reply.recovered));
  const reply = await session.join();
  console.log(reply.epoch, reply.seq, reply.streaming?.content);
  try {
    const { response_message_id } = await session.send("How do I sync records into PostgreSQL?");
    console.log(response_message_id);
  } catch (error) {
    if (error instanceof SessionError) console.log(error.reason);
  }
  await session.stop();
  console.log(session.presence().map((p) => p.user_id));
  await session.leave();
  await client.disconnect();
}
