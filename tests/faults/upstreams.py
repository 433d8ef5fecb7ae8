"""An upstream that misbehaves on purpose: a raw HTTP server writing exact bytes.

The user's question names the script the server plays, so one server serves a
whole system's worth of faults; each request is recorded with the moment its
client hung up, to prove that a stopped generation really closes its upstream
connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

Script = Callable[[asyncio.StreamWriter], Coroutine[Any, Any, None]]

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
)


@dataclass
class Call:
    """One request the upstream received."""

    body: dict[str, Any]
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def message_id(self) -> str:
        """The assistant message the worker asked for (apollo's `meta`)."""
        return (self.body.get("meta") or {}).get("message_id", "")


class ScriptedUpstream:
    """`async with ScriptedUpstream(scripts)`: serves on a free port, `url` set; the question picks the script."""

    def __init__(self, scripts: Mapping[str, Script]) -> None:
        self.scripts = scripts
        self.url = ""
        self.calls: list[Call] = []
        self.arrived = asyncio.Condition()
        self.handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedUpstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    def calls_for(self, message_id: str) -> list[Call]:
        return [call for call in self.calls if call.message_id == message_id]

    async def call(self, message_id: str, within: float = 10) -> Call:
        """The first request made for `message_id`, once it arrived."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: self.calls_for(message_id))
        return self.calls_for(message_id)[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            headers = dict(line.split(":", 1) for line in head.strip().split("\r\n")[1:])
            length = next(int(v) for k, v in headers.items() if k.strip().lower() == "content-length")
            body = json.loads(await reader.readexactly(length))
            call = Call(body)
            async with self.arrived:
                self.calls.append(call)
                self.arrived.notify_all()
            await self._play(self.scripts[body["content"]], reader, writer, call)
        finally:
            self.handlers.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _play(
        self, script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, call: Call
    ) -> None:
        """Run the script until it ends or the client hangs up, whichever comes first."""
        playing = asyncio.create_task(script(writer))
        hangup = asyncio.create_task(reader.read())  # b"" (or a reset) once the client closes
        try:
            await asyncio.wait({playing, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if hangup.done() or (playing.done() and isinstance(playing.exception(), ConnectionError)):
                call.hung_up.set()
        finally:
            for task in (playing, hangup):
                task.cancel()
            await asyncio.gather(playing, hangup, return_exceptions=True)


# --- building blocks of scripts -------------------------------------------------------------------


def sse(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def text_delta(text: str) -> bytes:
    return sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
    )


def complete(response: str) -> bytes:
    return sse("complete", {"response": response, "history": [], "usage": {}, "meta": {}})


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def respond(status: str, content_type: str | None, body: bytes) -> Script:
    """A whole HTTP response, then the connection closes."""

    async def script(writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
        if content_type:
            head += f"content-type: {content_type}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()

    return script


def stream(*events: bytes, end: bool = True, pause: float = 0.0) -> Script:
    """An event stream; `end=False` closes the connection without ending the chunked body."""

    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(STREAM_HEAD)
        for event in events:
            writer.write(chunked(event))
            await writer.drain()
            await asyncio.sleep(pause)
        if end:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    return script


def then_silence(*events: bytes) -> Script:
    """The events, then nothing at all, with the connection left open."""

    async def script(writer: asyncio.StreamWriter) -> None:
        await stream(*events, end=False)(writer)
        await asyncio.Event().wait()

    return script


async def silent(writer: asyncio.StreamWriter) -> None:
    """Accept the request and never answer."""
    await asyncio.Event().wait()


def counting(every: float, chunks: int | None = None) -> Script:
    """Text chunks "chunk 1 ", "chunk 2 ", … every `every` seconds; with `chunks`, then `complete`."""

    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(STREAM_HEAD)
        sent = 0
        while chunks is None or sent < chunks:
            sent += 1
            writer.write(chunked(text_delta(f"chunk {sent} ")))
            await writer.drain()
            await asyncio.sleep(every)
        writer.write(chunked(complete(counted(sent))) + b"0\r\n\r\n")
        await writer.drain()

    return script


def counted(count: int) -> str:
    """What `counting` streams in its first `count` chunks."""
    return "".join(f"chunk {n} " for n in range(1, count + 1))
