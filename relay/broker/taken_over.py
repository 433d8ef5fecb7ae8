"""A Redis connection redis-py opened (AUTH, SELECT, TLS as the URL says), read from then on by a protocol of
ours: the publish batcher's `ReplyPipe` and the pub/sub `PushReader`. Both pieces reach into redis-py (its
stream's transport, its parser's error classes), pinned in pyproject.toml."""

from __future__ import annotations

import asyncio
from typing import cast

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import InvalidResponse


def resp_reader(connection: AbstractConnection) -> hiredis.Reader:
    """hiredis's parser, raising redis-py's exception for each error reply (`NoScriptError`, OOM, …)."""
    return hiredis.Reader(protocolError=InvalidResponse, replyError=connection._parser.parse_error, notEnoughData=False)


def socket_transport(connection: AbstractConnection) -> asyncio.Transport | None:
    """The connected connection's transport, or None when it is not a socket (fakeredis, in tests)."""
    return cast("asyncio.Transport | None", getattr(connection._writer, "transport", None))
