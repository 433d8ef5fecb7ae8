"""What a wake-up costs here: CPU per message of a uvloop echo server, fed at a steady rate and flat out.

    python -m bench.wakeups [--rates 1000,20000] [--connections 50] [--calls 0,300] [--seconds 8]

A client process writes 200-byte messages round-robin over `--connections` sockets at each
rate (as the e2e upstream's chunks reach a worker: one per read, at random moments); the server
process echoes each after `--calls` trivial Python function calls. At a low rate each message
wakes the server from sleep; at a high rate several are handled per wake-up. The difference
between the two is the cost of waking (the scheduler, the system calls, cold caches), which no
change to the worker's Python removes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import uvloop

from .procfs import cpu_seconds

MESSAGE = b"x" * 200


def _step(x: int) -> int:
    return x + 1


def _work(calls: int) -> int:
    x = 0
    for _ in range(calls):
        x = _step(x)
    return x


class Echo(asyncio.Protocol):
    def __init__(self, calls: int) -> None:
        self.calls = calls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        _work(self.calls)
        self.transport.write(data)  # type: ignore[attr-defined]


async def serve(port: int, calls: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: Echo(calls), "127.0.0.1", port)
    await asyncio.Event().wait()


async def feed(port: int, rate: float, connections: int, seconds: float) -> int:
    loop = asyncio.get_running_loop()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]

    async def drain(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    readers = [asyncio.create_task(drain(reader)) for reader, _ in streams]
    count, start = int(rate * seconds), loop.time()
    for i in range(count):
        wait = start + i / rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        streams[i % connections][1].write(MESSAGE)
    await asyncio.sleep(0.5)
    for task in readers:
        task.cancel()
    for _, writer in streams:
        writer.close()
    return count


def measure(rate: float, connections: int, calls: int, seconds: float, port: int) -> float:
    """µs of the server's CPU per message."""
    pid = os.fork()
    if pid == 0:
        try:
            uvloop.run(serve(port, calls))
        finally:
            os._exit(0)
    try:
        time.sleep(0.5)
        before = cpu_seconds(pid)
        count = uvloop.run(feed(port, rate, connections, seconds))
        return 1e6 * (cpu_seconds(pid) - before) / count
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,20000", help="messages/s, comma-separated")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--calls", default="0,300", help="Python calls per message, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--port", type=int, default=40123)
    args = parser.parse_args()
    for calls in (int(c) for c in args.calls.split(",")):
        for rate in (float(r) for r in args.rates.split(",")):
            cost = measure(rate, args.connections, calls, args.seconds, args.port)
            print(f"{calls} calls per message, {rate:g} messages/s: {cost:.1f} µs of server CPU per message")


if __name__ == "__main__":
    main()
