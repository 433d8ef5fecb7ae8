"""The e2e upstream: an apollo-format SSE server whose text chunks carry their emit time.

Each generation streams `--chunks` text deltas at `--rate` chunks/s on an
absolute schedule (no drift), starting at a random phase so that concurrent
generations do not emit in lockstep (`--no-phase`: the first delta at once, for
time to first token); each delta's text starts with `time.time()` taken as it is
written, so a tab can measure upstream emit → tab. `GET /arrivals` answers
`{content: time.time() when the request arrived}` for every request so far (the
bench puts a unique content in each message).

    python -m bench.upstream --port P --chunks 200 --rate 20 [--no-phase]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

FILLER = "lorem ipsum dolor"


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def generation(chunks: int, rate: float, phase: bool = True) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    yield sse("message_start", {"type": "message_start", "message": {"id": "bench", "role": "assistant"}})
    yield sse("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})  # fmt: skip
    start = loop.time() + (random.random() / rate if phase else 0.0)
    texts = []
    for i in range(chunks):
        wait = start + i / rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        text = f"{time.time():.6f} {FILLER}"
        texts.append(text)
        yield sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": text}})  # fmt: skip
    yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield sse("message_stop", {"type": "message_stop"})
    yield sse("complete", {"response": "".join(texts), "usage": {"output_tokens": chunks}, "meta": {}})


def create_app(chunks: int, rate: float, phase: bool = True) -> Starlette:
    arrivals: dict[str, float] = {}

    async def stream(request: Request) -> StreamingResponse:
        arrived = time.time()
        body = orjson.loads(await request.body())
        arrivals[str(body.get("content"))] = arrived
        return StreamingResponse(generation(chunks, rate, phase), media_type="text/event-stream")

    async def arrived(request: Request) -> JSONResponse:
        return JSONResponse(arrivals)

    return Starlette(routes=[
        Route("/services/{service}/stream", stream, methods=["POST"]),
        Route("/arrivals", arrived),
    ])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--no-phase", action="store_true", help="the first text delta at once")
    args = parser.parse_args()
    app = create_app(args.chunks, args.rate, not args.no_phase)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
