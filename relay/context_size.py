"""A session's `context` is sent whole to every tab and in `session_updated`: it is capped in bytes."""

from __future__ import annotations

import json
from typing import Any

from .errors import ChatError, bad_request


def checked_context(context: Any, max_bytes: int) -> dict[str, Any]:
    """`context` if it is an object of at most `max_bytes` of JSON (UTF-8); else a 400 or a 413 `too_large`."""
    if not isinstance(context, dict):
        raise bad_request("context must be an object")
    size = len(json.dumps(context, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        message = f"The context is {size:,} bytes of JSON; a session's context may be at most {max_bytes:,} bytes."
        raise ChatError("too_large", message, 413)
    return context
