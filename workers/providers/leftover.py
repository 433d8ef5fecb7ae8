"""The rest of an answer its provider stopped reading, read in the background so that its connection goes
back to the pool instead of being closed.

Providers stop at their final event (Apollo's `complete`), a moment before the body's last chunk; a
response closed with its body unread closes its connection, and the next generation then pays a new TCP
and TLS handshake before its first token. The rest is read for at most `REST_SECONDS` and `REST_BYTES`
(an upstream that keeps streaming after the final event, or a generation stopped mid-answer), then the
response is closed either way: pooled when its body ended, its connection closed when not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

REST_SECONDS = 1.0
REST_BYTES = 64 * 1024

_reading: set[asyncio.Task[None]] = set()  # referenced until done (the loop keeps only weak references)


def read_rest_then_close(chunks: AsyncIterator[bytes], close: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.get_running_loop().create_task(_read_rest(chunks, close), name="upstream body's rest")
    _reading.add(task)
    task.add_done_callback(_reading.discard)


async def _read_rest(chunks: AsyncIterator[bytes], close: Callable[[], Awaitable[None]]) -> None:
    try:
        async with asyncio.timeout(REST_SECONDS):
            read = 0
            async for chunk in chunks:
                read += len(chunk)
                if read > REST_BYTES:
                    break
    except Exception:  # a timeout, a broken or closed connection: closing it is all that is left
        pass
    finally:
        aclose = getattr(chunks, "aclose", None)
        with contextlib.suppress(Exception):
            if aclose is not None:
                await aclose()
        with contextlib.suppress(Exception):
            await close()
