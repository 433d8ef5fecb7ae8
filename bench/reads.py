"""Worker CPU per upstream read, in one process: the read path alone, each way, in alternating turns.

    python -m bench.reads [--events 4000] [--turns 3]

A local server streams `--events` apollo text deltas, one per network read (as at
20 chunks/s), to `post_events` through the worker's operator client
(`workers.http.operator_client`), and through httpx's default client (httpcore's
anyio streams: a cancel scope and an exception-mapping context manager per read).
Reports process CPU per event (the server's share included, the same for both).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
import uvloop

from workers.http import operator_client, pool_limits
from workers.providers.upstream import StreamLimits, post_events

EVENT = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
         b'"delta":{"type":"text_delta","text":"1764300000.123456 lorem ipsum dolor"}}\n\n')  # fmt: skip


async def _serve(events: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    for _ in range(events):
        writer.write(f"{len(EVENT):x}\r\n".encode() + EVENT + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0)  # let the client read it: one event per read
        await asyncio.sleep(0)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    writer.close()


async def cpu_per_event(client: httpx.AsyncClient, events: int) -> float:
    server = await asyncio.start_server(lambda r, w: _serve(events, r, w), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        began, count = time.process_time(), 0
        async for _ in post_events(client, url, {}, {}, StreamLimits()):
            count += 1
        return 1e6 * (time.process_time() - began) / count
    finally:
        server.close()
        await client.aclose()


async def main(events: int, turns: int) -> None:
    for turn in range(1, turns + 1):
        direct = await cpu_per_event(operator_client(pool_limits(4)), events)
        anyio = await cpu_per_event(httpx.AsyncClient(), events)
        print(f"turn {turn}: worker client {direct:.1f} µs/event, httpx default (anyio reads) {anyio:.1f} µs/event")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(main(args.events, args.turns))
