// A tiny chat page on the AI SDK's useChat, unchanged, talking to a streamrelay gateway on another origin.
// Opened as /?gateway=<url>&session=<id>&token=<jwt>; tests/browser/test_ai_sdk_browser.py bundles it with esbuild.

import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport } from "ai";
import { useState } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(location.search);
const gateway = params.get("gateway");
const transport = new DefaultChatTransport({
  api: `${gateway}/api/ai-sdk/chat`,
  headers: { Authorization: `Bearer ${params.get("token")}` },
});

function Chat({ sessionId }) {
  const { messages, sendMessage, status, error } = useChat({ id: sessionId, transport, resume: true });
  const [input, setInput] = useState("");
  const submit = (event) => {
    event.preventDefault();
    sendMessage({ text: input });
    setInput("");
  };
  return (
    <main data-testid="chat" data-status={status}>
      {messages.map((message) => (
        <article key={message.id} data-testid="message" data-role={message.role} data-id={message.id}
                 data-state={message.metadata?.status ?? ""}>
          <p data-testid="message-content">
            {message.parts.filter((part) => part.type === "text").map((part) => part.text).join("")}
          </p>
          {message.parts.filter((part) => part.type === "data-changes").map((part) => (
            <pre key={part.id} data-testid="changes">{part.data.changes.yaml}</pre>
          ))}
        </article>
      ))}
      {error && <p role="alert">{error.message}</p>}
      <form onSubmit={submit}>
        <input data-testid="composer" value={input} onChange={(event) => setInput(event.target.value)} />
        <button type="submit" disabled={status !== "ready"}>Send</button>
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Chat sessionId={params.get("session")} />);
