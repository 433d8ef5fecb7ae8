"""A hostile or broken client costs the gateway a bounded amount and gets a clear 4xx, never a 500.

Huge bodies are refused while they stream in, slow requests are cut off, over-long
fields are refused at the edge, and nothing is built from what the client claims to be.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from relay.auth import mint

from ..system import SECRET
from .conftest import FaultySystem

pytestmark = pytest.mark.asyncio(loop_scope="module")

MB = 1024 * 1024


async def endless_body(megabytes: int) -> AsyncIterator[bytes]:
    block = b"x" * (64 * 1024)
    for _ in range(megabytes * 16):
        yield block


async def test_a_200_mb_body_is_refused_while_it_streams_in_at_a_bounded_cost(faulty: FaultySystem) -> None:
    session_id = await faulty.new_session()
    url = f"/api/sessions/{session_id}/messages"
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        # chunked: the gateway cannot know the size before reading
        response = await faulty.http.post(url, content=endless_body(200), headers=faulty.auth())
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    assert peak < 2 * MB, f"the gateway held {peak / MB:.0f} MB for one refused request"


async def test_a_body_declared_too_large_is_refused_before_it_is_read(faulty: FaultySystem) -> None:
    session_id = await faulty.new_session()
    reader, writer = await open_raw(faulty)
    head = (
        f"POST /api/sessions/{session_id}/messages HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {faulty.token()}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * MB}\r\n\r\n"
    )
    writer.write(head.encode())  # and not one byte of the body
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


async def send_body(writer: asyncio.StreamWriter, size: int) -> None:
    block = b"x" * (64 * 1024)
    try:
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()
    except ConnectionError:
        pass  # the gateway stopped reading: it answered already


@pytest.mark.parametrize("connection", ["close", "keep-alive"])
async def test_a_refused_body_is_answered_so_the_client_reads_the_413(faulty: FaultySystem, connection: str) -> None:
    """The gateway lingers after its 413 (reads and discards, bounded) instead of resetting the connection."""
    session_id = await faulty.new_session()
    for _ in range(3):
        reader, writer = await open_raw(faulty)
        head = (
            f"POST /api/sessions/{session_id}/messages HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n"
            f"Authorization: Bearer {faulty.token()}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {20 * MB}\r\n\r\n"
        )
        writer.write(head.encode())
        sending = asyncio.create_task(send_body(writer, 20 * MB))
        try:
            answer = await asyncio.wait_for(reader.read(), 30)  # all of it: the gateway closes after its answer
        finally:
            sending.cancel()
            writer.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert answer.endswith(b'"code":"too_large"}')


async def open_raw(faulty: FaultySystem) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = urlsplit(faulty.url)
    return await asyncio.open_connection(address.hostname, address.port)


async def answer_until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, every: float) -> bytes:
    """Trickle one byte every `every` seconds; what the gateway sent before it closed the connection."""

    async def drip() -> None:
        while True:
            await asyncio.sleep(every)
            writer.write(b"X")

    dripping = asyncio.create_task(drip())
    try:
        return await reader.read()
    except ConnectionError:
        return b""
    finally:
        dripping.cancel()
        writer.close()


async def test_clients_trickling_their_upgrade_headers_are_disconnected(faulty: FaultySystem) -> None:
    timeout = faulty.settings.request_read_timeout_seconds
    connections = [await open_raw(faulty) for _ in range(20)]
    for _, writer in connections:
        writer.write(b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ")
    async with asyncio.timeout(timeout * 10):
        answers = await asyncio.gather(*(answer_until_closed(r, w, timeout / 4) for r, w in connections))
    assert not any(answer.startswith(b"HTTP/1.1 101") for answer in answers)


@pytest.mark.parametrize("target", ["/api/sessions", "/socket/websocket?vsn=2.0.0"])
async def test_a_request_head_over_64_kib_is_answered_431_and_the_client_reads_it(
    faulty: FaultySystem, target: str
) -> None:
    """Headers are held whole until they end: past the bound the client is told, not parsed further."""
    reader, writer = await open_raw(faulty)
    head = f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    padding = "".join(f"X-Pad-{i}: {'a' * 100}\r\n" for i in range(2_000))  # ~220 KiB, never ended
    try:
        writer.write((head + padding).encode())
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b'"code":"too_large"' in answer


async def test_a_request_head_under_the_bound_is_served(faulty: FaultySystem) -> None:
    padding = {f"x-pad-{i}": "a" * 100 for i in range(500)}  # ~55 KiB of headers, in a few reads
    response = await faulty.http.get("/healthz", headers=padding)
    assert response.status_code == 200


async def test_a_client_trickling_its_body_gets_408(faulty: FaultySystem) -> None:
    session_id = await faulty.new_session()
    timeout = faulty.settings.request_read_timeout_seconds
    reader, writer = await open_raw(faulty)
    writer.write(
        f"POST /api/sessions/{session_id}/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
        f'Authorization: Bearer {faulty.token()}\r\n\r\n{{"content": '.encode()
    )
    async with asyncio.timeout(timeout * 10):
        answer = await answer_until_closed(reader, writer, timeout * 2)  # slower than the gateway waits
    assert answer.startswith(b"HTTP/1.1 408"), answer


@pytest.mark.parametrize(
    ("user", "tenant"), [("u" * 300, "acme"), ("alice", "t" * 300)], ids=["long_user_claim", "long_tenant_claim"]
)
async def test_over_long_token_claims_are_400_not_500(faulty: FaultySystem, user: str, tenant: str) -> None:
    headers = {"Authorization": f"Bearer {mint(SECRET, user, tenant)}"}
    for response in (
        await faulty.http.get("/api/sessions", headers=headers),
        await faulty.http.post("/api/sessions", json={}, headers=headers),
        await faulty.http.get("/api/tenant/settings", headers=headers),
    ):
        assert (response.status_code, response.json()["code"]) == (400, "bad_request"), response.text
        assert "200 characters" in response.json()["error"]


async def test_an_over_long_title_is_400_not_500(faulty: FaultySystem) -> None:
    await faulty.enable_assistant()
    response = await faulty.http.post("/api/sessions", json={"title": "t" * 600}, headers=faulty.auth())
    assert (response.status_code, response.json()["code"]) == (400, "bad_request"), response.text
    assert response.json()["error"] == "The title must be at most 500 characters."


async def test_the_events_of_a_session_you_cannot_see_are_404(faulty: FaultySystem) -> None:
    session_id = await faulty.new_session()
    await faulty.enable_assistant("globex")
    for path in ("/api/sessions/no-such-session/events", f"/api/sessions/{session_id}/events"):
        response = await faulty.http.get(path, headers=faulty.auth("eve", "globex"))
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), path


async def test_no_redirect_is_built_from_the_host_header(faulty: FaultySystem) -> None:
    response = await faulty.http.get("/api/sessions/", headers={**faulty.auth(), "Host": "evil.example"})
    assert "location" not in response.headers
    assert response.status_code == 404
