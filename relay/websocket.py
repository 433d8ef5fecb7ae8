"""`/socket/websocket`: WebSocket connections served straight off uvicorn's transport.

uvicorn parses the HTTP upgrade request and hands the connection, with the
request as it parsed it (`HeadDeadlineProtocol`), to the class named in its `ws`
option; this one lets `websockets` (sans I/O) check and answer the handshake and
do the framing, and sends nothing per frame through ASGI. An
event's WebSocket frame is built once per wire format
(`websocket_frames.WebSocketFrames`) and the same bytes are written to every
socket watching the session.

Frames are written as they come while the transport is writable. While the
kernel's buffers are full (`pause_writing`) they wait in an `Outbox` bounded
in bytes, and a client that lets it overflow is cut off with 4008.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

from .auth import Claims
from .gateway import Gateway
from .metrics import OPEN_SOCKETS, SLOW_SOCKET_CLOSES
from .outbox import Outbox
from .serializer import Serializer
from .socket import Refused, Socket, authenticate
from .websocket_frames import FORMATS, UpgradedProtocol

logger = logging.getLogger(__name__)

PATH = "/socket/websocket"
SLOW_CONSUMER = 4008
SERVICE_RESTART = 1012
CLOSE_TIMEOUT = 10.0  # seconds a client has to answer our close frame


class WebSocketConnection(asyncio.Protocol):
    """One WebSocket connection: uvicorn's `ws` protocol class.

    The gateway comes from the lifespan state (`app_state["gateway"]`). No task
    and no timer per frame: an idle socket costs its objects and one timer.
    """

    __slots__ = (
        "closing", "connections", "fragments", "gateway", "last_received", "loop", "opening", "outbox", "paused",
        "protocol", "slot", "socket", "timer", "transport",
    )  # fmt: skip

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.connections: set[Any] = server_state.connections  # uvicorn's, for a graceful shutdown
        self.gateway: Gateway | None = app_state.get("gateway")
        self.protocol = UpgradedProtocol(max_size=config.ws_max_size)
        self.transport: asyncio.Transport | None = None
        self.socket: Socket | None = None
        self.fragments: list[bytes] = []
        self.outbox: Outbox | None = None  # only while the transport is paused
        self.paused = False
        self.closing = False
        self.last_received = 0.0
        self.timer: asyncio.TimerHandle | None = None  # the idle check, then the close deadline
        self.opening: asyncio.Task[None] | None = None  # the upgrade, while the user's socket slot is sought
        self.slot: str | None = None  # this socket's among its user's `MAX_SOCKETS_PER_USER`

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        self.protocol.receive_data(data)
        for frame in self.protocol.events_received():
            self._frame(frame)  # type: ignore[arg-type]  # the request came parsed: only frames come as events
        self._flush()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.closing = True
        self.outbox = None
        if self.timer is not None:
            self.timer.cancel()
        if self.socket is not None:
            self.socket.gone()
            self.socket = None
            OPEN_SOCKETS.dec()
        if self.slot is not None and self.gateway is not None:
            self.gateway.limits.close_socket(self.slot)
            self.slot = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        outbox, transport = self.outbox, self.transport
        assert transport is not None
        while outbox and not self.paused and not self.closing:
            transport.write(outbox.pop())
        if not self.paused:
            self.outbox = None

    # uvicorn

    def shutdown(self) -> None:
        """The server is stopping: clients reconnect elsewhere (or here, after the restart)."""
        if self.socket is not None:
            self.socket.close(SERVICE_RESTART, "server restarting")
        elif self.transport is not None:
            self.transport.close()

    # Connection, for the socket

    def send(self, frame: bytes) -> None:
        if self.closing:
            return
        if self.outbox is None and not self.paused:
            self.transport.write(frame)  # type: ignore[union-attr]
            return
        if self.outbox is None:
            self.outbox = Outbox(self.gateway.settings.socket_queue_bytes)  # type: ignore[union-attr]
        if not self.outbox.put(frame):
            SLOW_SOCKET_CLOSES.inc()
            assert self.socket is not None
            self.socket.close(SLOW_CONSUMER, "slow consumer: outgoing queue over its bound")

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.outbox = None
        self.protocol.send_close(code, reason)
        self._flush()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(CLOSE_TIMEOUT, self.transport.abort)  # type: ignore[union-attr]

    def pause_reading(self) -> None:
        self.transport.pause_reading()  # type: ignore[union-attr]

    def resume_reading(self) -> None:
        self.transport.resume_reading()  # type: ignore[union-attr]

    # HeadDeadlineProtocol

    def upgrade(self, method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """The upgrade request, as uvicorn parsed it."""
        if method != b"GET":
            self._refuse(Refused(400, "a WebSocket upgrade is a GET request"))
            return
        latin1 = ((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)
        self._handshake(Request(target.decode("latin-1"), Headers(latin1)))
        self._flush()

    # internals

    def _handshake(self, request: Request) -> None:
        try:
            gateway, serializer, token = self._upgrade(request)
            claims = authenticate(gateway, token)
        except Refused as refused:
            self._refuse(refused)
            return
        self.pause_reading()  # nothing more is read until the user's socket slot is known
        self.opening = self.loop.create_task(self._open(request, gateway, serializer, claims))

    async def _open(self, request: Request, gateway: Gateway, serializer: Serializer, claims: Claims) -> None:
        """Accept the upgrade once one of the user's socket slots is this socket's; refuse it with 429 if none is."""
        try:
            slot = await gateway.limits.open_socket(claims, self._last_heard)
        except Exception:
            logger.exception("websocket upgrade failed while its socket slot was sought")
            self.transport.abort()  # type: ignore[union-attr]
            return
        finally:
            self.opening = None
        if self.closing:  # the client went away meanwhile
            if slot is not None:
                gateway.limits.close_socket(slot)
            return
        if slot is None:
            limit = gateway.settings.max_sockets_per_user
            self._refuse(Refused(429, f"too many open sockets: you have {limit} already; close one and try again"))
            return
        self.slot = slot
        self.protocol.send_response(self.protocol.accept(request))
        if self.protocol.state is State.OPEN:  # else `websockets` found the request wanting and said why
            self.socket = Socket(self, serializer, claims, gateway)
            OPEN_SOCKETS.inc()
            self.timer = self.loop.call_later(gateway.settings.socket_idle_seconds, self._check_idle)
        self._flush()
        if not self.closing:
            self.resume_reading()

    def _refuse(self, refused: Refused) -> None:
        self.protocol.send_response(self.protocol.reject(refused.status, refused.reason + "\n"))
        self._flush()

    def _last_heard(self) -> float:
        """time.monotonic() of the client's last frame, as its socket slot is kept by."""
        return self.socket.heard if self.socket is not None else time.monotonic()

    def _upgrade(self, request: Request) -> tuple[Gateway, Serializer, str | None]:
        """The gateway, format and token of an upgrade to `/socket/websocket?vsn=…&token=…`."""
        if self.gateway is None:
            raise Refused(503, "the gateway is not serving yet")
        url = urlsplit(request.path)
        if url.path != PATH:
            raise Refused(404, f"no WebSocket endpoint at {url.path}; connect to {PATH}")
        query = parse_qs(url.query)
        vsn = query.get("vsn", ["1.0.0"])[0]
        serializer = FORMATS.get(vsn)
        if serializer is None:
            raise Refused(400, f"unsupported vsn {vsn!r}; this server speaks {', '.join(sorted(FORMATS))}")
        return self.gateway, serializer, query.get("token", [None])[0]

    def _frame(self, frame: Frame) -> None:
        """Data frames, reassembled; control frames are answered by `websockets`."""
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
            if frame.fin:
                if self.socket is not None:
                    self.socket.receive(frame.data)
                return
            self.fragments = [frame.data]
        elif frame.opcode is Opcode.CONT:
            self.fragments.append(frame.data)
            if frame.fin:
                data, self.fragments = b"".join(self.fragments), []
                if self.socket is not None:
                    self.socket.receive(data)

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            else:  # end of stream: the handshake failed, or the closing handshake is over
                self.closing = True
                transport.close()

    def _check_idle(self) -> None:
        """Phoenix clients send a heartbeat every 30 s; a socket quiet for the whole window is gone."""
        idle = self.gateway.settings.socket_idle_seconds  # type: ignore[union-attr]
        quiet = self.loop.time() - self.last_received
        if quiet < idle:
            self.timer = self.loop.call_later(idle - quiet, self._check_idle)
        elif self.socket is not None:
            self.socket.close(1000, "idle: nothing received within the heartbeat window")
