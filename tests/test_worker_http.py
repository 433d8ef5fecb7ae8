"""The worker's upstream connections: as many at once as generations it runs, and a wait for one of them
never counted as the AI service's silence."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from relay.settings import Settings
from workers.http import upstream_clients
from workers.providers.apollo import ApolloProvider
from workers.providers.vocabulary import Chunk, Complete, GenerationRequest, UpstreamError

from .faults.upstreams import STREAM_HEAD, chunked, complete, stream, text_delta
from .test_providers import collect, raw_server


async def test_a_worker_streams_as_many_upstream_requests_at_once_as_its_concurrency() -> None:
    concurrency = 120  # past httpx's default pool of 100 connections
    arrived: list[int] = []
    everyone = asyncio.Event()

    async def answer_once_all_arrived(writer: asyncio.StreamWriter) -> None:
        arrived.append(1)
        if len(arrived) == concurrency:
            everyone.set()
        await everyone.wait()
        await stream(text_delta("hi"), complete("hi"))(writer)

    settings = Settings(worker_concurrency=concurrency)
    async with raw_server(answer_once_all_arrived) as server, upstream_clients(settings) as (client, _):
        provider = ApolloProvider(server.url, client=client, first_byte_timeout=30)
        async with asyncio.timeout(20):  # a guard: without the pool sized to the concurrency this never ends
            streams = await asyncio.gather(*(collect(provider) for _ in range(concurrency)))
    assert len(arrived) == concurrency
    assert all(events == [Chunk("hi"), Complete("hi")] for events in streams)


async def test_waiting_for_a_pooled_connection_does_not_count_as_the_upstream_not_answering() -> None:
    first_byte_timeout = 0.2
    busy = asyncio.Event()
    release = asyncio.Event()

    async def first_holds_the_only_connection(writer: asyncio.StreamWriter) -> None:
        if busy.is_set():
            await stream(text_delta("hi"), complete("hi"))(writer)
            return
        busy.set()  # the first answers at once, then keeps its stream open until released
        writer.write(STREAM_HEAD + chunked(text_delta("hi")))
        await release.wait()
        writer.write(chunked(complete("hi")) + b"0\r\n\r\n")
        await writer.drain()

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with raw_server(first_holds_the_only_connection) as server, httpx.AsyncClient(limits=limits) as client:
        provider = ApolloProvider(server.url, client=client, first_byte_timeout=first_byte_timeout, idle_timeout=30)
        first = asyncio.create_task(collect(provider))
        await busy.wait()
        second = asyncio.create_task(collect(provider))
        await asyncio.sleep(3 * first_byte_timeout)  # the second waits for the connection longer than that
        release.set()
        assert await first == [Chunk("hi"), Complete("hi")]
        assert await second == [Chunk("hi"), Complete("hi")]
    assert len(server.requests) == 2


async def test_the_worker_client_reports_a_connection_lost_mid_stream_after_the_partial_content() -> None:
    async def drop_mid_stream(writer: asyncio.StreamWriter) -> None:
        await stream(text_delta("partial"), end=False)(writer)
        writer.transport.abort()

    seen: list[object] = []
    async with raw_server(drop_mid_stream) as server, upstream_clients(Settings()) as (client, _):
        provider = ApolloProvider(server.url, client=client, first_byte_timeout=5, idle_timeout=5)
        with pytest.raises(UpstreamError) as caught:
            async for event in provider.stream(GenerationRequest("hello", [])):
                seen.append(event)
    assert seen == [Chunk("partial")]
    assert (caught.value.status, caught.value.message) == (
        "interrupted", "The connection to the AI service was lost mid-stream."
    )


def test_the_worker_clients_are_ready_before_the_first_request() -> None:
    """Opening the clients imports what httpcore imports on its first request (anyio's asyncio backend), so a
    worker's first job does not pay for it."""
    program = (
        "import asyncio, sys\n"
        "from relay.settings import Settings\n"
        "from workers.http import upstream_clients\n"
        "async def main():\n"
        "    async with upstream_clients(Settings()):\n"
        "        print('anyio._backends._asyncio' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "True"


class ImportSearches:
    """A finder consulted only when an import is not in `sys.modules`: each call is a search of `sys.path`."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, *_: object) -> None:
        self.names.append(name)


async def test_an_upstream_request_searches_for_no_module() -> None:
    """httpcore imports sniffio each time it makes a lock or a cancellation shield (several per request); were
    sniffio not installed, each of those imports would fail only after searching every entry of sys.path."""
    searches = ImportSearches()
    async with raw_server(stream(text_delta("hi"), complete("hi"))) as server, upstream_clients(Settings()) as (
        client,
        _,
    ):
        provider = ApolloProvider(server.url, client=client)
        await collect(provider)  # whatever a first request imports lazily
        sys.meta_path.insert(0, searches)
        try:
            streams = [await collect(provider) for _ in range(3)]
        finally:
            sys.meta_path.remove(searches)
    assert all(events == [Chunk("hi"), Complete("hi")] for events in streams)
    assert searches.names == []
