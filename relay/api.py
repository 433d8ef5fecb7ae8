"""The HTTP API (JSON, `Authorization: Bearer <jwt>`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from schema.store import HISTORY_LIMIT

from . import deletion
from .auth import Claims, InvalidToken
from .errors import ChatError, bad_request, translate
from .gateway import Gateway
from .generation_watch import GenerationWatch
from .limits import WRITE
from .session_documents import with_texts
from .sse_transport import EventStream, parse_last_event_id
from .verified_tokens import VerifiedTokens, verified_tokens

logger = logging.getLogger(__name__)

Handler = Callable[[Request, Gateway, Claims], Awaitable[Response]]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # each takes a token from its user's bucket
MAX_BODY_BYTES = 1024 * 1024
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error(status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> JSONResponse:
    # A client too slow to send its body, or sending one too large, is not kept: the connection closes
    # after the answer, lingering while the body still comes (relay/http_protocol.py) so the client reads it.
    headers = {"connection": "close"} if status in (408, 413) else {}
    if extra is not None and "retry_after" in extra:
        headers["retry-after"] = str(extra["retry_after"])
    return JSONResponse({"error": message, "code": code, **(extra or {})}, status_code=status, headers=headers)


def claims_of(request: Request, tokens: VerifiedTokens) -> Claims:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("no bearer token in the Authorization header")
    return tokens.claims(token.strip())


def too_large() -> ChatError:
    return ChatError("too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes.", 413)


async def read_body(request: Request, read_timeout: float) -> bytes:
    """The body, refused as soon as it is known to pass `MAX_BODY_BYTES`: never more is held.

    Each piece must arrive within `read_timeout` seconds, so a trickling client is cut off.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    body = bytearray()
    pieces = request.stream()
    while True:
        try:
            async with asyncio.timeout(read_timeout):
                piece = await anext(pieces, None)
        except TimeoutError:
            raise ChatError("timeout", "The request body took too long to arrive.", 408) from None
        if piece is None:
            return bytes(body)
        body += piece
        if len(body) > MAX_BODY_BYTES:
            raise too_large()


async def json_body(request: Request) -> dict[str, Any]:
    gateway: Gateway = request.app.state.gateway
    body = await read_body(request, gateway.settings.request_read_timeout_seconds)
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object")
    return data


def endpoint(handler: Handler, gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, limit the user's writes, run the handler, and turn failures into JSON errors."""
    tokens = verified_tokens(gateway.settings.secret or "")

    async def run(request: Request) -> Response:
        try:
            claims = claims_of(request, tokens)
        except InvalidToken as exc:
            return error(exc.status, "unauthorized" if exc.status == 401 else "bad_request", str(exc))
        try:
            if request.method in WRITES:
                await gateway.limits.take(claims, WRITE)
            return await handler(request, gateway, claims)
        except Exception as exc:
            answer = translate(exc)
            if answer is None:
                raise
            return error(answer.status, answer.code, answer.message, answer.extra)

    return run


async def create_session(request: Request, gateway: Gateway, claims: Claims) -> Response:
    body = await json_body(request)
    session = await gateway.chat.create_session(claims, body.get("title"), body.get("context"), body.get("documents"))
    await gateway.pages.created(claims, session)
    return JSONResponse(await with_texts(gateway.broker.documents, gateway.db, session), status_code=201)


async def list_sessions(request: Request, gateway: Gateway, claims: Claims) -> Response:
    whole_tenant = request.query_params.get("scope") == "tenant"
    raw_limit = request.query_params.get("limit", "100")
    if not raw_limit.isdigit():
        raise bad_request("limit must be a whole number")
    return JSONResponse({"sessions": await gateway.chat.list_sessions(claims, whole_tenant, int(raw_limit))})


async def get_session(request: Request, gateway: Gateway, claims: Claims) -> Response:
    return JSONResponse({"session": await gateway.chat.session(claims, request.path_params["session_id"])})


async def patch_session(request: Request, gateway: Gateway, claims: Claims) -> Response:
    body = await json_body(request)
    session = await gateway.chat.update_session(claims, request.path_params["session_id"], body)
    return JSONResponse({"session": session})


async def delete_session(request: Request, gateway: Gateway, claims: Claims) -> Response:
    await deletion.delete_session(gateway, claims, request.path_params["session_id"])
    return Response(status_code=204)


async def list_messages(request: Request, gateway: Gateway, claims: Claims) -> Response:
    raw_limit = request.query_params.get("limit", str(HISTORY_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise bad_request("limit must be a whole number from 1 to 500")
    messages = await gateway.chat.messages(
        claims, request.path_params["session_id"], int(raw_limit), request.query_params.get("before")
    )
    return JSONResponse({"messages": messages})


async def post_message(request: Request, gateway: Gateway, claims: Claims) -> Response:
    """202 at once; or the generation as SSE (`Accept: text/event-stream`); or its end (`?wait=true`).
    With `edit` (the id of the session's last user message) that message and all after it are replaced."""
    session_id = request.path_params["session_id"]
    body = await json_body(request)
    content, edit = body.get("content"), body.get("edit")
    streaming = "text/event-stream" in request.headers.get("accept", "")
    waiting = request.query_params.get("wait") == "true"
    if not streaming and not waiting:
        question, answer = await gateway.chat.send_message(claims, session_id, content, edit)
        return JSONResponse({"message_id": question, "response_message_id": answer}, status_code=202)
    await gateway.chat.check_access(claims, session_id)
    watch = GenerationWatch(gateway, claims, session_id)
    await watch.start()
    try:
        question, answer = await gateway.chat.send_message(claims, session_id, content, edit)
    except BaseException:
        watch.stop()
        raise
    if waiting:
        try:
            return JSONResponse({"message": await watch.final(answer)})
        finally:
            watch.stop()
    return StreamingResponse(watch.stream(question, answer), media_type="text/event-stream", headers=SSE_HEADERS)


async def regenerate(request: Request, gateway: Gateway, claims: Claims) -> Response:
    """A new answer to the session's last user message, in place of the last answer."""
    await json_body(request)
    question, answer = await gateway.chat.regenerate(claims, request.path_params["session_id"])
    return JSONResponse({"message_id": question, "response_message_id": answer}, status_code=202)


async def session_events(request: Request, gateway: Gateway, claims: Claims) -> Response:
    # Checked before the stream starts, so that a session the caller cannot see is a 404, not an empty stream.
    await gateway.chat.check_access(claims, request.path_params["session_id"])
    stream = EventStream(gateway, claims)
    params = parse_last_event_id(request.headers.get("last-event-id"))
    frames = stream.frames(request.path_params["session_id"], params)
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


async def stop(request: Request, gateway: Gateway, claims: Claims) -> Response:
    return JSONResponse({"message_id": await gateway.chat.stop(claims, request.path_params["session_id"])})


async def get_tenant_settings(request: Request, gateway: Gateway, claims: Claims) -> Response:
    return JSONResponse(await gateway.tenants.settings(claims))


async def put_tenant_settings(request: Request, gateway: Gateway, claims: Claims) -> Response:
    return JSONResponse(await gateway.tenants.update_settings(claims, await json_body(request)))


async def tenant_features(request: Request, gateway: Gateway, claims: Claims) -> Response:
    return JSONResponse({"features": await gateway.tenants.features(claims)})


async def tenant_usage(request: Request, gateway: Gateway, claims: Claims) -> Response:
    return JSONResponse(await gateway.tenants.usage(claims, request.query_params.get("month")))


def routes(gateway: Gateway) -> list[Route]:
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(path, endpoint(handler, gateway), methods=[method])

    return [
        route("/api/sessions", create_session, "POST"),
        route("/api/sessions", list_sessions, "GET"),
        route("/api/sessions/{session_id}", get_session, "GET"),
        route("/api/sessions/{session_id}", patch_session, "PATCH"),
        route("/api/sessions/{session_id}", delete_session, "DELETE"),
        route("/api/sessions/{session_id}/messages", list_messages, "GET"),
        route("/api/sessions/{session_id}/messages", post_message, "POST"),
        route("/api/sessions/{session_id}/stop", stop, "POST"),
        route("/api/sessions/{session_id}/regenerate", regenerate, "POST"),
        route("/api/sessions/{session_id}/events", session_events, "GET"),
        route("/api/tenant/settings", get_tenant_settings, "GET"),
        route("/api/tenant/settings", put_tenant_settings, "PUT"),
        route("/api/tenant/features", tenant_features, "GET"),
        route("/api/tenant/usage", tenant_usage, "GET"),
    ]
