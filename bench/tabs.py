"""Browser tabs as the load generator plays them: one socket, one session, every event checked.

Two dialects share the accounting: Phoenix Channels V2 (streamrelay and the raw
relay) and Socket.IO over Engine.IO 4 (python-socketio). Each event's `seq` is
checked to grow by one per tab, and a `streaming_chunk` whose content starts
with a send timestamp gives one latency sample.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from .wire import WebSocketClient

MAX_ERRORS = 20


@dataclass
class Stats:
    received: int = 0
    finals: int = 0
    gaps: int = 0
    duplicates: int = 0
    disconnects: int = 0
    per_session: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)  # each latency sample's send time, in the same order
    first_chunk: dict[str, float] = field(default_factory=dict)  # session → time.time() of its first text chunk
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)

    def merge(self, other: Stats) -> None:
        self.received += other.received
        self.finals += other.finals
        self.gaps += other.gaps
        self.duplicates += other.duplicates
        self.disconnects += other.disconnects
        for session, count in other.per_session.items():
            self.per_session[session] = self.per_session.get(session, 0) + count
        self.latencies += other.latencies
        self.sent += other.sent
        for session, at in other.first_chunk.items():
            self.first_chunk[session] = min(at, self.first_chunk.get(session, at))
        self.errors += other.errors[: MAX_ERRORS - len(self.errors)]


def timestamp_of(content: str) -> float | None:
    """The send time that the injector or the upstream put before the first space."""
    head = content.partition(" ")[0]
    try:
        return float(head)
    except ValueError:
        return None


class Tab(WebSocketClient):
    """One socket joined to one session; `joined` resolves once the server confirmed the join."""

    path = "/"

    def __init__(
        self, host: str, port: int, session_id: str, stats: Stats, token: str = "", since: tuple[str, int] | None = None
    ) -> None:
        super().__init__(host, port, self.path.format(token=token))
        self.session_id = session_id
        self.stats = stats
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.since = since  # (epoch, seq) of a previous socket: rejoin with resume (a reconnect)
        self.epoch: str | None = None
        self.last_seq: int | None = since[1] if since else None
        self.first_event_at: float | None = None  # time.time() of the first event after the join
        self.recovered = False  # the join reply said the missed events follow (resume from the log)
        self.closing = False
        stats.per_session.setdefault(session_id, 0)

    def position(self) -> tuple[str, int] | None:
        """Where this tab is in its session's history, for a rejoin with `since`."""
        if self.epoch is None or self.last_seq is None:
            return None
        return self.epoch, self.last_seq

    def event(self, event: str, payload: dict[str, Any]) -> None:
        stats = self.stats
        seq = payload.get("seq")
        if isinstance(seq, int):
            last = self.last_seq
            if last is not None:
                if seq <= last:
                    stats.duplicates += 1
                    return
                if seq != last + 1:
                    stats.gaps += seq - last - 1
            self.last_seq = seq
        stats.received += 1
        stats.per_session[self.session_id] += 1
        if self.first_event_at is None:
            self.first_event_at = time.time()
        if event == "streaming_chunk":
            now = time.time()
            stats.first_chunk.setdefault(self.session_id, now)
            sent = timestamp_of(payload.get("content", ""))
            if sent is not None:
                stats.latencies.append(now - sent)
                stats.sent.append(sent)
        elif event == "new_message":
            stats.finals += 1

    def confirm_join(self, ok: bool, detail: Any, seq: Any = None, epoch: Any = None) -> None:
        if self.joined.done():
            return
        if ok:
            self.last_seq = seq if isinstance(seq, int) else None
            self.epoch = epoch if isinstance(epoch, str) else None
            self.joined.set_result(None)
        else:
            self.joined.set_exception(RuntimeError(f"join refused: {detail}"))

    def fail(self, reason: str) -> None:
        super().fail(reason)
        if not self.joined.done():
            self.joined.set_exception(RuntimeError(reason))

    def on_closed(self, code: int | None) -> None:
        if not self.closing:
            self.stats.disconnects += 1
            self.stats.error(f"socket closed by the server (code {code}) {self.failure or ''}".strip())
        if not self.joined.done():
            self.joined.set_exception(RuntimeError(self.failure or f"closed before joining (code {code})"))

    def heartbeat(self) -> None: ...

    def leave(self) -> None:
        self.closing = True
        self.close()


class PhoenixTab(Tab):
    """Phoenix Channels V2: `[join_ref, ref, topic, event, payload]` arrays."""

    path = "/socket/websocket?vsn=2.0.0&token={token}"

    def on_open(self) -> None:
        self.topic = f"ai_session:{self.session_id}"
        params = {"since": {"epoch": self.since[0], "seq": self.since[1]}} if self.since else {}
        self.send_text(orjson.dumps(["1", "1", self.topic, "phx_join", params]))

    def on_text(self, data: bytes) -> None:
        _, ref, _, event, payload = orjson.loads(data)
        if event == "phx_reply":
            if ref == "1":
                response = payload.get("response") or {}
                ok = payload.get("status") == "ok"
                self.recovered = response.get("recovered") is True
                self.confirm_join(ok, response, response.get("seq"), response.get("epoch"))
            elif payload.get("status") != "ok":
                self.stats.error(f"error reply: {payload}")
        elif event in ("phx_error", "phx_close"):
            self.stats.error(f"{event} on {self.topic}")
        else:
            self.event(event, payload)

    def heartbeat(self) -> None:
        self.send_text(b'[null,"hb","phoenix","heartbeat",{}]')


class SocketIOTab(Tab):
    """Socket.IO 5 over Engine.IO 4 on a WebSocket: open → connect → `join` with an ack → events."""

    path = "/socket.io/?EIO=4&transport=websocket"

    def on_text(self, data: bytes) -> None:
        kind = data[:1]
        if kind == b"4":  # an Engine.IO message carrying a Socket.IO packet
            packet = data[1:2]
            if packet == b"2":
                event, payload = orjson.loads(data[2:])
                self.event(event, payload)
            elif packet == b"3":  # the ack of our join (id 0)
                (response,) = orjson.loads(data[3:])
                self.confirm_join(True, response, response.get("seq") if isinstance(response, dict) else None)
            elif packet == b"0":
                self.send_text(b'420["join",' + orjson.dumps(self.session_id) + b"]")
            elif packet == b"4":
                self.confirm_join(False, data[2:].decode(errors="replace"))
        elif kind == b"2":  # Engine.IO ping
            self.send_text(b"3")
        elif kind == b"0":  # Engine.IO open
            self.send_text(b"40")
        elif kind == b"1":
            self.stats.error("engine.io close")


DIALECTS: dict[str, type[Tab]] = {"phoenix": PhoenixTab, "socketio": SocketIOTab}
