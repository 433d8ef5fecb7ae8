"""The streamed body read straight off its connection (`workers.providers.chunked`): the same events as
httpx would give, in any split of the bytes, with the connection back in the pool after the body's end;
the SSE parser over any split."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from relay.settings import Settings
from workers.http import upstream_clients
from workers.providers import chunked as chunked_module
from workers.providers import leftover
from workers.providers.apollo import ApolloProvider
from workers.providers.sse import EventParser
from workers.providers.upstream import StreamLimits, post_events
from workers.providers.vocabulary import Chunk, Complete, GenerationRequest, UpstreamError

from .conditions import until
from .faults.upstreams import chunked, complete, text_delta

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
EVENTS = [text_delta(f"piece {i} é") for i in range(5)]
LIMITS = StreamLimits(first_byte_timeout=2, idle_timeout=2)

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def keepalive_server(answer: Answer) -> AsyncIterator[tuple[str, list[int]]]:
    """A server answering every request of a connection with `answer`; yields (url, requests per connection)."""
    per_connection: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_connection.append(0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lengths = [line.split(b":")[1] for line in head.lower().split(b"\r\n") if b"content-length" in line]
                length = int(lengths[0]) if lengths else 0
                await reader.readexactly(length)
                per_connection[-1] += 1
                await answer(writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", per_connection
    finally:
        server.close()


def writes(pieces: list[bytes], pause: float = 0.0) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)

    return answer


async def read_all(client: httpx.AsyncClient, url: str) -> list[tuple[str, str]]:
    return [(e.event, e.data) async for e in post_events(client, url, {}, {}, LIMITS)]  # type: ignore[union-attr]


def expected() -> list[tuple[str, str]]:
    return [("content_block_delta", e.split(b"data: ")[1].strip().decode()) for e in EVENTS]


BODY = HEAD + b"".join(chunked(e) for e in EVENTS) + b"0\r\n\r\n"


@pytest.mark.parametrize("size", [1, 3, 7, 40, len(BODY)])
async def test_a_chunked_body_split_anywhere_gives_every_event_and_keeps_the_connection(size: int) -> None:
    pieces = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    async with keepalive_server(writes(pieces)) as (url, per_connection), upstream_clients(Settings()) as (client, _):
        assert await read_all(client, url) == expected()
        assert await read_all(client, url) == expected()
    assert per_connection == [2]  # the body's end was read: the connection went back to the pool


async def test_chunk_extensions_trailing_spaces_and_trailers_are_read_as_h11_reads_them() -> None:
    body = (
        HEAD
        + b"".join(f"{len(e):X};name=value  \r\n".encode() + e + b"\r\n" for e in EVENTS)
        + b"0;last\r\nx-trailer: 1\r\n\r\n"
    )
    async with keepalive_server(writes([body])) as (url, per_connection), upstream_clients(Settings()) as (client, _):
        assert await read_all(client, url) == expected()
        assert await read_all(client, url) == expected()
    assert per_connection == [2]


async def test_the_body_is_read_off_the_connection_not_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[object] = []
    read = chunked_module.chunked_body

    def counted(connection: object) -> AsyncIterator[bytes]:
        taken.append(connection)
        return read(connection)  # type: ignore[arg-type]

    monkeypatch.setattr("workers.providers.upstream.chunked_body", counted)
    async with keepalive_server(writes([BODY])) as (url, _), upstream_clients(Settings()) as (client, _):
        assert await read_all(client, url) == expected()
    assert len(taken) == 1  # a new httpx or httpcore that moved what it relies on would read through httpx


async def test_events_already_buffered_with_the_headers_are_not_lost() -> None:
    body = HEAD + chunked(EVENTS[0]) + chunked(EVENTS[1])[:10]
    rest = chunked(EVENTS[1])[10:] + b"".join(chunked(e) for e in EVENTS[2:]) + b"0\r\n\r\n"
    async with keepalive_server(writes([body, rest], pause=0.05)) as (url, per_connection):
        async with upstream_clients(Settings()) as (client, _):
            assert await read_all(client, url) == expected()
            assert await read_all(client, url) == expected()
    assert per_connection == [2]


@pytest.mark.parametrize(
    "broken",
    [
        b"zz\r\n",  # not a size
        b"5\r\nabcdeXX",  # no CRLF after the chunk's data
        b"5\r\nab",  # the connection closes mid-chunk
        b"10",  # … mid-header
        b"0\r\nnot a trailer\r\n\r\n",
    ],
)
async def test_broken_framing_is_a_lost_connection(broken: bytes) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + chunked(EVENTS[0]) + broken)
        await writer.drain()
        writer.close()

    async with keepalive_server(answer) as (url, _), upstream_clients(Settings()) as (client, _):
        seen = []
        with pytest.raises(UpstreamError) as caught:
            async for event in post_events(client, url, {}, {}, LIMITS):
                seen.append(event)
    assert "lost mid-stream" in caught.value.message
    assert len(seen) == 1


async def test_an_endless_chunk_header_is_refused_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("httpcore._async.http11.AsyncHTTP11Connection.MAX_INCOMPLETE_EVENT_SIZE", 1000)
    stop = asyncio.Event()

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + b"1" * 200)
        while not stop.is_set() and not writer.is_closing():
            writer.write(b";" * 200)
            await writer.drain()
            await asyncio.sleep(0.001)

    async with keepalive_server(answer) as (url, _), upstream_clients(Settings()) as (client, _):
        with pytest.raises(UpstreamError, match="lost mid-stream"):
            await read_all(client, url)
        stop.set()


# --- the SSE parser over any split of the bytes ----------------------------------------------------

STREAM = (
    b"".join(EVENTS)
    + b": ping\r\n\r\ndata: a\r\ndata: b\ndata:c\nevent:x\nid: 3\nretry: 5\nunknown\n\n"
    + b"event: \xc3\xa9\ndata: \xff\n\n"
)


def parsed(parts: list[bytes], max_bytes: int = 1 << 20) -> list[tuple[str, str]]:
    parser = EventParser(max_bytes)
    return [(e.event, e.data) for part in parts for e in parser.feed(part)]


def test_the_event_parser_gives_the_same_events_for_any_split_of_the_stream() -> None:
    whole = parsed([STREAM])
    assert whole[-2:] == [("x", "a\nb\nc"), ("é", "\ufffd")]
    assert len(whole) == len(EVENTS) + 2
    shuffle = random.Random(7)
    for _ in range(200):
        cuts = sorted(shuffle.sample(range(1, len(STREAM)), shuffle.randint(1, 40)))
        assert parsed([STREAM[i:j] for i, j in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]) == whole


def test_the_event_parser_refuses_an_event_past_its_cap_whether_its_lines_end_or_not() -> None:
    event = text_delta("x" * 100)
    assert parsed([event], max_bytes=len(event))
    for parts in ([event], [event[:50], event[50:]], [event[:-1]], [event[:60], event[60:-2]]):
        with pytest.raises(UpstreamError, match="larger than"):
            parsed(parts, max_bytes=len(event) - 3)


@pytest.mark.parametrize("pause", [0.0, 0.05], ids=["together", "end-later"])
async def test_a_provider_that_stops_at_its_final_event_still_gives_the_connection_back(pause: float) -> None:
    """Apollo's provider returns on `complete`, before the body's last chunk: without reading that end, every
    generation paid a new connection (a TCP and TLS handshake before its first token)."""
    answer = writes([HEAD + chunked(text_delta("hi")) + chunked(complete("hi")), b"0\r\n\r\n"], pause=pause)
    async with keepalive_server(answer) as (url, per_connection), upstream_clients(Settings()) as (client, _):
        provider = ApolloProvider(url, client=client, first_byte_timeout=2, idle_timeout=2)
        for _ in range(3):
            assert [event async for event in provider.stream(GenerationRequest("hello", []))] == [
                Chunk("hi"), Complete("hi")
            ]  # fmt: skip
            await until(lambda: any(c.is_idle() for c in client._transport._pool.connections))  # type: ignore
    assert per_connection == [3]


async def test_an_answer_whose_end_does_not_come_is_not_waited_for_long() -> None:
    """The rest of a body read after its consumer stopped is bounded in time: a stream left open is closed."""
    endless = writes([HEAD + chunked(text_delta("hi")) + chunked(complete("hi")), chunked(text_delta("more"))], 5)
    async with keepalive_server(endless) as (url, per_connection), upstream_clients(Settings()) as (client, _):
        provider = ApolloProvider(url, client=client, first_byte_timeout=2, idle_timeout=2)
        async with asyncio.timeout(2):
            for _ in range(2):
                assert [event async for event in provider.stream(GenerationRequest("hello", []))][-1] == Complete("hi")
    assert per_connection == [1, 1]


async def test_a_consumer_that_stops_before_the_final_event_closes_the_connection_at_once() -> None:
    """A stop must reach the upstream (it stops generating when its connection closes): nothing is read on."""
    endless = writes([HEAD + chunked(text_delta("hi")), chunked(text_delta("more"))], 5)
    async with keepalive_server(endless) as (url, _), upstream_clients(Settings()) as (client, _):
        answer = post_events(client, url, {}, {}, LIMITS, is_last=lambda event: event.event == "complete")
        async with contextlib.aclosing(answer) as events:
            assert (await anext(events)).data  # type: ignore[union-attr]
        assert client._transport._pool.connections == []  # type: ignore[attr-defined]
        assert not leftover._reading


async def test_an_answer_that_streams_on_after_its_final_event_is_read_no_further_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rest is read up to `REST_BYTES`, then the connection is closed, however long it could still wait."""
    monkeypatch.setattr(leftover, "REST_SECONDS", 60.0)
    more = chunked(b"x" * (leftover.REST_BYTES + 1))
    answer = writes([HEAD + chunked(text_delta("hi")) + chunked(complete("hi")), more, more], pause=0.01)
    async with keepalive_server(answer) as (url, per_connection), upstream_clients(Settings()) as (client, _):
        provider = ApolloProvider(url, client=client, first_byte_timeout=2, idle_timeout=2)
        assert [event async for event in provider.stream(GenerationRequest("hello", []))][-1] == Complete("hi")
        await until(lambda: not leftover._reading and not client._transport._pool.connections)  # type: ignore
    assert per_connection == [1]
