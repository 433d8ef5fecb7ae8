"""The tenant's tool webhook: one signed POST per tool call, its answer read within bounds.

Whatever goes wrong (timeout, refused address, non-2xx, invalid JSON, an answer
over `max_bytes`) becomes a failed `ToolResult` with a sentence saying why; this
never raises, except `CancelledError` when the generation is stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import httpx
import orjson

from schema.outbound import AddressNotAllowed
from workers.providers.tool_calls import ToolCall, ToolResult, failed, finished

logger = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 1024 * 1024
ERROR_CHARS = 300


@dataclass(frozen=True)
class Caller:
    """Who the call is made for: sent with every call so the application can scope it."""

    session_id: str
    message_id: str
    tenant: str
    user_id: str | None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, the `X-Streamrelay-Signature` header."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class ToolWebhook:
    def __init__(
        self,
        url: str,
        secret: str,
        client: httpx.AsyncClient,
        timeout: float = 30.0,
        max_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.url = url
        self.secret = secret
        self.client = client
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def call(self, call: ToolCall, caller: Caller) -> ToolResult:
        body = orjson.dumps(
            {
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
                "session_id": caller.session_id,
                "message_id": caller.message_id,
                "tenant": caller.tenant,
                "user_id": caller.user_id,
            }
        )
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",  # the 1 MB bound counts the bytes as sent: no compressed answers
            "x-streamrelay-timestamp": timestamp,
            "x-streamrelay-signature": signature(self.secret, timestamp, body),
        }
        try:
            async with asyncio.timeout(self.timeout):
                status, answer = await self._post(body, headers)
        except TimeoutError:
            return failed(call, f"The tool webhook did not answer within {self.timeout:g} seconds.")
        except AddressNotAllowed as exc:
            logger.warning("tool webhook of tenant %s refused: %s", caller.tenant, exc.reason)
            return failed(call, "The tool webhook address is not allowed.")
        except _TooLarge:
            return failed(call, f"The tool webhook answered with more than {self.max_bytes} bytes.")
        except httpx.HTTPError as exc:
            return failed(call, f"Could not reach the tool webhook: {_reason(exc)}.")
        if not 200 <= status < 300:
            return failed(call, f"The tool webhook answered HTTP {status}.")
        return _interpret(call, answer)

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = self.client.build_request("POST", self.url, content=body, headers=headers, timeout=None)
        response = await self.client.send(request, stream=True, follow_redirects=False)
        try:
            if not response.is_success:
                return response.status_code, b""
            answer = bytearray()
            async for piece in response.aiter_raw():
                answer += piece
                if len(answer) > self.max_bytes:
                    raise _TooLarge
            return response.status_code, bytes(answer)
        finally:
            await response.aclose()


class _TooLarge(Exception):
    pass


def _interpret(call: ToolCall, answer: bytes) -> ToolResult:
    try:
        data = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return failed(call, "The tool webhook answered with invalid JSON.")
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return failed(call, _shorten(data["error"]) or "The tool reported an error.")
    if isinstance(data, dict) and "result" in data:
        return finished(call, data["result"])
    return failed(call, 'The tool webhook answered without a "result" or an "error".')


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _reason(exc: httpx.HTTPError) -> str:
    """Why the request failed, in a few words: never the body of whatever answered."""
    if isinstance(exc, httpx.ConnectError):
        return "the connection was refused or the address is not allowed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "it closed the connection without a valid answer"
    if isinstance(exc, httpx.TransportError):
        return "the connection was lost"
    return type(exc).__name__
