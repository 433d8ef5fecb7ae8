"""One generation's events as the Vercel AI SDK's UI message stream chunks (docs/protocol.md, "AI SDK").

`UIMessage` follows one answer: it opens a text part before the first text,
closes it when a tool call comes between pieces of text (so the parts keep
their order), and remembers the text it sent, so that a snapshot, a repeated
`message_processing` (history lost) or the final message only ever adds what
the client has not seen: never a duplicated delta.
"""

from __future__ import annotations

from typing import Any

import orjson

from schema import events
from schema.events import Envelope

Chunk = dict[str, Any]
HEADERS = {
    "x-vercel-ai-ui-message-stream": "v1",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
DONE = b"data: [DONE]\n\n"
# a message's final status → the SDK's finish reason
FINISH_REASONS = {"success": "stop", "cancelled": "other", "error": "error", "interrupted": "error"}


def encode(chunk: Chunk) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class UIMessage:
    """The chunks of one assistant message, from its start (or a snapshot) to its finish."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.text = ""  # what the client has been sent
        self.text_part: str | None = None  # the open text part's id
        self.parts = 0
        self.tool_calls: set[str] = set()  # calls whose input the client has
        self.replaying = False  # after a repeated `message_processing`: the next chunk repeats the text so far
        self.finished = False

    def start(self) -> list[Chunk]:
        return [{"type": "start", "messageId": self.message_id}]

    def snapshot(self, streaming: dict[str, Any]) -> list[Chunk]:
        """The in-flight message as far as it streamed (a join's `streaming`): its text and changes so far."""
        chunks = [self._change(change) for change in streaming.get("changes") or []]
        return chunks + self._catch_up(streaming.get("content") or "")

    def event(self, envelope: Envelope) -> list[Chunk]:
        """The chunks for one of this message's events (the caller filters by `message_id`)."""
        payload = envelope.payload
        if envelope.event == events.STREAMING_CHUNK:
            if self.replaying:
                self.replaying = False
                return self._catch_up(payload["content"])
            return self._text(payload["content"])
        if envelope.event == events.MESSAGE_PROCESSING:
            self.replaying = bool(self.text)
            return []
        if envelope.event == events.STREAMING_TOOL:
            return self._tool(payload)
        if envelope.event == events.STREAMING_CHANGES:
            return [self._change(payload)]
        if envelope.event == events.STREAMING_STATUS:
            return [{"type": "data-status", "data": {"text": payload["text"]}, "transient": True}]
        if envelope.event == events.STREAMING_ERROR:
            return [{"type": "error", "errorText": payload.get("error") or "The answer could not be completed."}]
        if envelope.event == events.NEW_MESSAGE:
            return self.final(payload["message"])
        return []

    def final(self, message: dict[str, Any]) -> list[Chunk]:
        """The rest of the final message's text and the tool calls this stream did not see (it joined after
        them), then `finish` with its status in the metadata."""
        chunks = self._catch_up(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            if call.get("call_id") not in self.tool_calls and call.get("status") in ("finished", "failed"):
                chunks += self._tool(call)
        chunks += self._close_text()
        metadata = {
            "message_id": self.message_id,
            "status": message.get("status"),
            "usage": message.get("usage") or {},
            "error": message.get("error"),
        }
        self.finished = True
        finish_reason = FINISH_REASONS.get(message.get("status") or "", "other")
        return [*chunks, {"type": "finish", "finishReason": finish_reason, "messageMetadata": metadata}]

    def _text(self, delta: str) -> list[Chunk]:
        if not delta:
            return []
        chunks: list[Chunk] = []
        if self.text_part is None:
            self.parts += 1
            self.text_part = f"{self.message_id}:{self.parts}"
            chunks.append({"type": "text-start", "id": self.text_part})
        self.text += delta
        chunks.append({"type": "text-delta", "id": self.text_part, "delta": delta})
        return chunks

    def _catch_up(self, full_text: str) -> list[Chunk]:
        """Send what `full_text` has beyond what was sent (nothing when it does not continue it)."""
        if not full_text.startswith(self.text):
            return []
        return self._text(full_text[len(self.text) :])

    def _close_text(self) -> list[Chunk]:
        if self.text_part is None:
            return []
        part, self.text_part = self.text_part, None
        return [{"type": "text-end", "id": part}]

    def _tool(self, payload: dict[str, Any]) -> list[Chunk]:
        call_id, name = payload["call_id"], payload["name"]
        chunks = self._close_text()
        if call_id not in self.tool_calls:  # a call that started before this stream joined gets its input first
            self.tool_calls.add(call_id)
            chunks.append(
                {"type": "tool-input-available", "toolCallId": call_id, "toolName": name,
                 "input": payload.get("arguments"), "dynamic": True}
            )  # fmt: skip
        if payload["status"] == "finished":
            output = payload.get("result_preview")
            chunks.append({"type": "tool-output-available", "toolCallId": call_id, "output": output, "dynamic": True})
        elif payload["status"] == "failed":
            error = payload.get("error") or "The tool call failed."
            chunks.append({"type": "tool-output-error", "toolCallId": call_id, "errorText": error, "dynamic": True})
        return chunks

    @staticmethod
    def _change(change: dict[str, Any]) -> Chunk:
        data = {"change_id": change["change_id"], "changes": change["changes"]}
        return {"type": "data-changes", "id": change["change_id"], "data": data}
