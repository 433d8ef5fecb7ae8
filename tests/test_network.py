"""The workers' network streams (`schema.network`): TLS, backpressure, a server's hang-up, cancelled reads."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from schema.network import HIGH_WATER, ProtocolBackend, ProtocolStream
from workers.providers.apollo import ApolloProvider
from workers.providers.vocabulary import Chunk, Complete, GenerationRequest, UpstreamError

from .conditions import until
from .faults.upstreams import STREAM_HEAD, chunked, complete, text_delta


def certificate(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for `name` (and 127.0.0.1): (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@asynccontextmanager
async def sse_server(server_ssl: ssl.SSLContext | None, *events: bytes) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(STREAM_HEAD)
        for event in events:
            writer.write(chunked(event))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def client(verify: ssl.SSLContext) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(verify=verify)
    transport._pool._network_backend = ProtocolBackend()  # as workers.http.operator_client does
    return httpx.AsyncClient(transport=transport)


async def stream_answer(port: int, verify: ssl.SSLContext) -> list[object]:
    async with client(verify) as http:
        provider = ApolloProvider(f"https://localhost:{port}", client=http, first_byte_timeout=5, idle_timeout=5)
        return [event async for event in provider.stream(GenerationRequest("q", []))]


async def test_an_https_upstream_streams_over_tls(tmp_path: Path):
    cert, key = certificate(tmp_path)
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with sse_server(server_ssl, text_delta("a"), text_delta("b"), complete("ab")) as port:
        assert await stream_answer(port, trusting) == [Chunk("a"), Chunk("b"), Complete("ab")]


async def test_an_upstream_whose_certificate_is_not_trusted_is_refused(tmp_path: Path):
    cert, key = certificate(tmp_path)
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    async with sse_server(server_ssl, complete("never")) as port:
        with pytest.raises(UpstreamError, match="Could not connect to the AI service"):
            await stream_answer(port, ssl.create_default_context())


@asynccontextmanager
async def raw(payload: bytes, close: bool = True) -> AsyncIterator[ProtocolStream]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(30)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    stream = await ProtocolBackend().connect_tcp("127.0.0.1", server.sockets[0].getsockname()[1], timeout=5)
    assert isinstance(stream, ProtocolStream)
    try:
        yield stream
    finally:
        await stream.aclose()
        server.close()


async def read_all(stream: ProtocolStream) -> bytes:
    received = bytearray()
    while data := await stream.read(65536):
        received += data
    return bytes(received)


async def test_a_reader_that_falls_behind_stops_reading_the_socket_and_then_gets_everything():
    payload = bytes(range(256)) * (4 * HIGH_WATER // 256)
    async with raw(payload) as stream:
        await until(lambda: stream.protocol.paused)  # the server writes everything; nobody reads
        assert stream.protocol.size < HIGH_WATER + 256 * 1024
        assert await read_all(stream) == payload
        assert not stream.protocol.paused


async def test_a_server_that_hung_up_leaves_the_idle_connection_readable():
    async with raw(b"") as stream:
        await until(lambda: stream.protocol.eof)
        assert stream.get_extra_info("is_readable")
        assert await stream.read(10) == b""


async def test_a_cancelled_read_leaves_the_stream_readable():
    async with raw(b"late", close=False) as stream:
        assert await stream.read(10) == b"late"
        waiting = asyncio.create_task(stream.read(10))
        await until(lambda: stream.protocol.waiter is not None)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not stream.get_extra_info("is_readable")


async def test_a_read_with_a_timeout_times_out():
    async with raw(b"", close=False) as stream:
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(10, timeout=0.05)
