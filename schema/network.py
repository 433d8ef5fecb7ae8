"""httpcore's network layer on a plain asyncio protocol: the connections the workers stream upstreams over.

httpcore's default (anyio) stream resumes the transport's reading before every read and
pauses it after (an `epoll_ctl` each way under uvloop), and waits on an `asyncio.Event`:
with one read per streamed chunk that is most of a read's cost outside HTTP parsing. This
stream's protocol keeps reading into a buffer and pauses only past `HIGH_WATER` bytes
not yet read, so a read of data already there returns without waiting, and a read that
waits is woken by one future. TLS (https upstreams, or through a proxy) is
`loop.start_tls` on the same protocol.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import httpcore

HIGH_WATER = 256 * 1024  # unread bytes past which the socket is no longer read (backpressure)


class _Buffered(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.paused = False
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for data
        self.drained: asyncio.Future[None] | None = None  # set while the transport's write buffer is full

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> None:
        self.eof = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        data = self.chunks.popleft()
        if len(data) > max_bytes:
            self.chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self.size -= len(data)
        if self.paused and self.size < HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data


class ProtocolStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Buffered) -> None:
        self.transport = transport
        self.protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore's interface)
        protocol = self.protocol
        while not protocol.chunks:
            if protocol.eof:
                if protocol.error is not None:
                    raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__) from protocol.error
                return b""
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:  # the workers keep their own deadlines (relay/broker/silence.py)
                    await protocol.waiter
                else:
                    async with asyncio.timeout(timeout):
                        await protocol.waiter
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout:g} s") from None
            finally:
                protocol.waiter = None
        return protocol.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore's interface)
        if not buffer:
            return
        if self.transport.is_closing():
            raise httpcore.WriteError(str(self.protocol.error or "the connection is closed"))
        self.transport.write(buffer)
        drained = self.protocol.drained
        if drained is not None:
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(drained)
            except TimeoutError:
                raise httpcore.WriteTimeout(f"could not send within {timeout:g} s") from None
            if self.protocol.error is not None:
                raise httpcore.WriteError(str(self.protocol.error)) from self.protocol.error

    async def aclose(self) -> None:
        self.transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self.transport, self.protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self.transport.close()
            raise httpcore.ConnectTimeout(f"no TLS handshake within {timeout:g} s") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self.transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        self.protocol.transport = transport
        return ProtocolStream(transport, self.protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore: an idle connection with something to read was closed by the server
            return bool(self.protocol.chunks) or self.protocol.eof
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        if name in ("ssl_object", "sockname", "peername", "socket"):
            return self.transport.get_extra_info(name)
        return None


class ProtocolBackend(httpcore.AsyncNetworkBackend):
    """TCP connections read by `ProtocolStream`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address is not None else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(_Buffered, host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"could not connect within {timeout:g} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        if socket_options:  # asyncio and uvloop set TCP_NODELAY themselves
            sock = transport.get_extra_info("socket")
            for option in socket_options:
                sock.setsockopt(*option)
        return ProtocolStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
