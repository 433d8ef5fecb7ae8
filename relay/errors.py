"""The gateway's one error type, and its one translation of broker and database unavailability.

HTTP answers a `ChatError` with its status and code; the channel with its code as
the reason. Both call `translate` so that an unreachable broker or database
reads the same everywhere.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout

from schema.db import database_unreachable

from .broker.base import OUT_OF_MEMORY, BrokerFull, BrokerUnavailable


class ChatError(Exception):
    """`extra` goes into the error's JSON next to `error` and `code` (and into a channel error reply)."""

    def __init__(self, code: str, message: str, status: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}


def not_found() -> ChatError:
    return ChatError("not_found", "no such session", 404)


def bad_request(message: str) -> ChatError:
    return ChatError("bad_request", message, 400)


def forbidden(message: str) -> ChatError:
    return ChatError("forbidden", message, 403)


def assistant_disabled() -> ChatError:
    return ChatError("ai_assistant_disabled", "AI Assistant is not enabled for this tenant", 403)


def not_configured(reason: str) -> ChatError:
    return ChatError("ai_not_configured", f"The AI assistant is not configured for this tenant. {reason}", 409)


def usage_limit(resets_at: str) -> ChatError:
    message = f"This tenant has used up its tokens for the month; the limit resets at {resets_at}."
    return ChatError("usage_limit", message, 429, {"resets_at": resets_at})


def rate_limited(retry_after: int) -> ChatError:
    message = f"Too many requests from you just now; try again in {retry_after} s."
    return ChatError("rate_limited", message, 429, {"retry_after": retry_after})


def busy() -> ChatError:
    return ChatError("busy", "a response is already being generated in this session", 409)


def conflict(message: str) -> ChatError:
    return ChatError("conflict", message, 409)


def unavailable(what: str) -> ChatError:
    return ChatError("unavailable", f"{what} is unavailable, try again shortly", 503)


logger = logging.getLogger(__name__)

DATABASE_DOWN = unavailable("the database")
OVERLOADED = ChatError("unavailable", "The service is busy right now; try again shortly.", 503)


def translate(exc: BaseException) -> ChatError | None:
    """The `ChatError` a client is told for `exc`; None for a failure that is a bug, not an answer."""
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, BrokerFull):
        return ChatError("unavailable", OUT_OF_MEMORY, 503)
    if isinstance(exc, BrokerUnavailable):
        return unavailable("the message broker")
    if isinstance(exc, PoolTimeout):  # every pooled connection stayed busy: the database itself is fine
        logger.warning("answered 'unavailable': no SQL connection was free in time (%s)", exc)
        return OVERLOADED
    if database_unreachable(exc):
        logger.warning("answered 'unavailable': the database is unreachable (%s)", exc)
        return DATABASE_DOWN
    return None


def told(exc: BaseException) -> ChatError:
    """What a client is told for `exc`, raised within its `except`; a failure that is a bug is raised on."""
    refusal = translate(exc)
    if refusal is None:
        raise exc
    return refusal
