"""One upstream HTTP request read as a stream of SSE events, with the limits every provider shares.

Everything that can go wrong on the wire becomes an `UpstreamError` whose message is a
sentence a user can read; providers only interpret the events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from httpx_sse import ServerSentEvent

from relay.broker.silence import Silence
from schema.outbound import NOT_ALLOWED, AddressNotAllowed
from workers.providers.chunked import chunked_body, connection_of
from workers.providers.leftover import read_rest_then_close
from workers.providers.sse import EventParser
from workers.providers.vocabulary import UpstreamError

logger = logging.getLogger(__name__)

ERROR_BODY_BYTES = 64 * 1024
MAX_EVENT_BYTES = 16 * 1024 * 1024  # `complete` repeats the whole answer: a long one must fit


@dataclass(frozen=True)
class StreamLimits:
    first_byte_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_event_bytes: int = MAX_EVENT_BYTES


@dataclass(frozen=True)
class JsonBody:
    """A successful answer with a JSON body instead of an event stream (non-streaming fallback)."""

    data: Any


async def post_events(
    client: httpx.AsyncClient | None,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    limits: StreamLimits,
    is_last: Callable[[ServerSentEvent], bool] = lambda event: False,
) -> AsyncIterator[ServerSentEvent | JsonBody]:
    """POST `body` and yield the answer's SSE events, or one `JsonBody`.

    Timeouts are the provider's own (asyncio deadlines), whatever `client` is configured
    with: `first_byte_timeout` runs from the moment the request starts going out on its
    connection to the first byte of the stream — waiting for a connection of the pool is
    local and never counts as the upstream's silence; connecting is bounded by the same
    number of seconds on its own — and `idle_timeout` bounds every later gap, so a slow
    consumer never counts.

    `is_last(event)`: the provider's final event. A provider that stops there leaves the body's end
    to be read in the background, so that the connection is pooled (`leftover`); one that stops
    before (a stop, an error) closes it at once, which tells the upstream to stop generating.
    """
    async with AsyncExitStack() as stack:
        pooled = client is not None
        if client is None:
            client = await stack.enter_async_context(httpx.AsyncClient())
        loop = asyncio.get_running_loop()
        first_byte = asyncio.timeout(None)

        async def trace(name: str, info: dict[str, Any]) -> None:
            if name.endswith("send_request_headers.started"):  # http11.… or http2.…: on the wire from now
                first_byte.reschedule(loop.time() + limits.first_byte_timeout)

        request = client.build_request(
            "POST", url, json=body, headers={"accept": "text/event-stream", **headers},
            timeout=httpx.Timeout(None, connect=limits.first_byte_timeout), extensions={"trace": trace},
        )  # fmt: skip
        try:
            async with first_byte:
                response = await client.send(request, stream=True)
        except TimeoutError:
            raise _no_first_byte(limits) from None
        except AddressNotAllowed as exc:
            logger.warning("refused to connect to a tenant's AI service: %s", exc.reason)
            raise UpstreamError(sentence(NOT_ALLOWED[:1].upper() + NOT_ALLOWED[1:])) from None
        except httpx.ConnectTimeout:
            raise UpstreamError(
                f"Could not connect to the AI service within {seconds(limits.first_byte_timeout)}."
            ) from None
        except httpx.ConnectError as exc:
            raise UpstreamError(f"Could not connect to the AI service: {_reason(exc)}.") from None
        except httpx.HTTPError:
            raise UpstreamError("The AI service closed the connection without answering.") from None
        rest_read_later = False

        async def close_response() -> None:
            if not rest_read_later:
                await response.aclose()

        stack.push_async_callback(close_response)

        if not response.is_success:
            raise await _status_error(response, limits)
        content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type == "application/json" or content_type.endswith("+json"):
            yield JsonBody(await _read_json(response, limits))
            return
        if content_type != "text/event-stream":
            shown = content_type or "no content type"
            raise UpstreamError(f"The AI service answered with {shown} instead of an event stream.")

        chunks = _body(response)
        parser = EventParser(limits.max_event_bytes)
        started = ended = False
        silence = stack.enter_context(Silence(loop))
        deadline = first_byte.when() or loop.time() + limits.first_byte_timeout
        while True:
            silence.waiting_until(deadline)
            try:
                chunk = await anext(chunks, None)
            except asyncio.CancelledError:
                if silence.expired():
                    raise (_idle(limits) if started else _no_first_byte(limits)) from None
                raise
            except httpx.TransportError:
                raise _lost() from None
            except httpx.DecodingError:
                raise _undecodable() from None
            silence.waiting_until(None)
            if chunk is None:
                return
            try:
                for event in parser.feed(chunk):
                    ended = is_last(event)
                    yield event
            except GeneratorExit:
                if pooled and ended:  # the provider has its final event: the connection is kept
                    read_rest_then_close(chunks, response.aclose)
                    rest_read_later = True
                raise
            started = True
            deadline = loop.time() + limits.idle_timeout


def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's data: when it is not content-encoded, straight off the connection if it is chunked
    HTTP/1.1 (`chunked`), else from httpx's stream (two generator layers less per read than `aiter_bytes`,
    whose decoder and chunker would pass it on as it is)."""
    stream = response.stream
    if response.headers.get("content-encoding", "").strip().lower() in ("", "identity") and isinstance(
        stream, httpx.AsyncByteStream
    ):
        response.is_stream_consumed = True
        connection = connection_of(response)
        return chunked_body(connection) if connection is not None else aiter(stream)
    return response.aiter_bytes()


def event_object(event: ServerSentEvent) -> dict[str, Any]:
    """The event's data as a JSON object, or an error naming the event."""
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"The AI service sent invalid JSON in a '{event.event}' event.") from None
    if not isinstance(data, dict):
        raise UpstreamError(f"The AI service sent a '{event.event}' event whose data is not a JSON object.")
    return data


def sentence(text: str, limit: int = 300) -> str:
    """`text` on one line, shortened, ending with a full stop: fit to show users."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def seconds(value: float) -> str:
    """A duration as users read it: "1 second", "0.5 seconds"."""
    return f"{value:g} second" if value == 1 else f"{value:g} seconds"


def error_message(data: Any) -> str | None:
    """The human message in a JSON error body, in the shapes upstreams use."""
    if not isinstance(data, dict):
        return None
    for key in ("message", "error", "detail"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            return value
    return None


def _no_first_byte(limits: StreamLimits) -> UpstreamError:
    return UpstreamError(
        f"The AI service did not start answering within {seconds(limits.first_byte_timeout)}."
    )


def _idle(limits: StreamLimits) -> UpstreamError:
    return UpstreamError(
        f"The AI service sent nothing for {seconds(limits.idle_timeout)}, so the stream was abandoned.",
        "interrupted",
    )


def _lost() -> UpstreamError:
    return UpstreamError("The connection to the AI service was lost mid-stream.", "interrupted")


def _undecodable() -> UpstreamError:
    return UpstreamError("The AI service sent a body that could not be decoded.")


def _reason(exc: BaseException) -> str:
    """Why a connection failed, from the innermost OS error httpx wraps ("connection refused")."""
    reason = str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            reason = os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror)
        cause = cause.__cause__ or cause.__context__
    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", reason).rstrip(".")
    return reason[:1].lower() + reason[1:] if reason else type(exc).__name__


async def _read_capped(response: httpx.Response, cap: int, limits: StreamLimits) -> bytes:
    body = bytearray()
    async with asyncio.timeout(limits.idle_timeout):
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                break
    return bytes(body)


async def _status_error(response: httpx.Response, limits: StreamLimits) -> UpstreamError:
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    try:
        body = await _read_capped(response, ERROR_BODY_BYTES, limits)
    except (TimeoutError, httpx.HTTPError):
        body = b""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return UpstreamError(f"The AI service answered {status} with an empty body.")
    try:
        message = error_message(orjson.loads(body))
    except orjson.JSONDecodeError:
        if "html" in response.headers.get("content-type", "") or text.startswith("<"):
            return UpstreamError(f"The AI service answered {status} with an HTML error page.")
        message = text
    if message is None:
        return UpstreamError(f"The AI service answered {status}.")
    return UpstreamError(f"The AI service answered {status}: {sentence(message)}")


async def _read_json(response: httpx.Response, limits: StreamLimits) -> Any:
    try:
        body = await _read_capped(response, limits.max_event_bytes, limits)
    except TimeoutError:
        raise UpstreamError(
            f"The AI service stopped sending its answer for {seconds(limits.idle_timeout)}.", "interrupted"
        ) from None
    except httpx.TransportError:
        raise _lost() from None
    except httpx.DecodingError:
        raise _undecodable() from None
    if len(body) > limits.max_event_bytes:
        raise UpstreamError(f"The AI service sent an answer larger than {limits.max_event_bytes} bytes.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("The AI service answered with invalid JSON.") from None
