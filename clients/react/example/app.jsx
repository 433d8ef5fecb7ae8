// A whole chat on streamrelay-react: `npm run example`, then open
// http://localhost:5173/?gateway=http://127.0.0.1:8000&session=<id>&token=<jwt> (README: "Run the example").

import { useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { connect } from "streamrelay-client";

import { useApply, usePresence, useSession } from "../src/index.js";

const params = new URLSearchParams(location.search);

function Chat({ client, sessionId }) {
  const { messages, streaming, status, send, stop, error, session } = useSession(client, sessionId);
  const people = usePresence(session);
  const [draft, setDraft] = useState("");
  const [workflow, setWorkflow] = useState("");
  // exactly once across every open tab: apply the assistant's change to the document
  useApply(session, (change) => setWorkflow(change.changes.yaml ?? ""));
  const submit = (event) => {
    event.preventDefault();
    send(draft).then(() => setDraft(""), () => {});
  };
  return (
    <main>
      <p>{status} · here: {people.map((p) => p.user_id).join(", ")}</p>
      {messages.map((m) => (
        <p key={m.id}><b>{m.role}:</b> {m.content} <i>{m.status === "success" ? "" : m.status}</i></p>
      ))}
      {streaming && <p><b>assistant:</b> {streaming.content} <i>{streaming.status}</i></p>}
      {error && <p role="alert">{error.message}</p>}
      <form onSubmit={submit}>
        <input value={draft} onChange={(event) => setDraft(event.target.value)} placeholder="Ask…" />
        <button type="submit" disabled={status !== "ready"}>Send</button>
        <button type="button" onClick={stop} disabled={status !== "streaming"}>Stop</button>
      </form>
      <pre>{workflow}</pre>
    </main>
  );
}

function App() {
  const client = useMemo(
    () => connect({ url: `${params.get("gateway")}/socket`, token: params.get("token") }),
    [],
  );
  return <Chat client={client} sessionId={params.get("session")} />;
}

createRoot(document.getElementById("root")).render(<App />);
