"""The coordinator's handles on the load generator and injector processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.process import BaseProcess
from typing import Any

from . import injector, loadgen
from .measure import percentiles_ms
from .tabs import Stats

SPAWN = multiprocessing.get_context("spawn")
REPLY_TIMEOUT = 120.0
JOINS_TIMEOUT = 900.0  # thousands of tabs joining a slow server on a busy machine


class Child:
    def __init__(self, target: Any, *args: Any) -> None:
        self.conn, child_conn = SPAWN.Pipe()
        self.process: BaseProcess = SPAWN.Process(target=target, args=(child_conn, *args), daemon=True)
        self.process.start()
        child_conn.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def ask(self, command: str, argument: Any = None, within: float = REPLY_TIMEOUT) -> Any:
        self.conn.send((command, argument))
        if not await asyncio.to_thread(self.conn.poll, within):
            raise TimeoutError(f"{command!r}: no answer from pid {self.pid} within {within:.0f}s")
        return self.conn.recv()

    async def close(self) -> None:
        if self.process.is_alive():
            try:
                await self.ask("close")
            except (OSError, EOFError, TimeoutError):
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Fleet:
    """`processes` load generators; tabs are dealt to them round-robin."""

    def __init__(self, processes: int) -> None:
        self.generators = [Child(loadgen.main) for _ in range(processes)]

    @property
    def pids(self) -> list[int]:
        return [generator.pid for generator in self.generators]

    async def connect(
        self, dialect: str, port: int, sessions: list[str], token: str = "", concurrency: int = 50
    ) -> dict[str, Any]:
        """One tab per entry of `sessions` (repeat a session id for more tabs of it)."""
        share = len(self.generators)
        specs = [
            {"dialect": dialect, "host": "127.0.0.1", "port": port, "token": token,
             "sessions": sessions[i::share], "concurrency": concurrency}
            for i in range(share)
        ]  # fmt: skip
        asks = [g.ask("connect", spec, JOINS_TIMEOUT) for g, spec in zip(self.generators, specs, strict=True)]
        return _joins(await asyncio.gather(*asks))

    async def drop(self) -> None:
        """Every tab's socket closed at once, as when its gateway goes away; `rejoin` reconnects them."""
        await asyncio.gather(*(g.ask("drop") for g in self.generators))

    async def rejoin(self, concurrency: int) -> dict[str, Any]:
        """Each dropped tab reconnects and joins with `since`, `concurrency` at a time per generator."""
        return _joins(await asyncio.gather(*(g.ask("rejoin", concurrency, JOINS_TIMEOUT) for g in self.generators)))

    async def streaming(self) -> tuple[int, float]:
        """(tabs that received an event since their join, the latest such first event's `time.time()`)."""
        parts = await asyncio.gather(*(g.ask("streaming") for g in self.generators))
        return sum(p[0] for p in parts), max(p[1] for p in parts)

    async def count(self) -> tuple[int, int]:
        counts = await asyncio.gather(*(g.ask("count") for g in self.generators))
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    async def stats(self, reset: bool = True) -> Stats:
        merged = Stats()
        for part in await asyncio.gather(*(g.ask("stats", reset) for g in self.generators)):
            merged.merge(part)
        return merged

    async def drain(self, expected: int, quiet: float = 1.0, limit: float = 15.0) -> None:
        """Wait until `expected` events arrived, or nothing arrived for `quiet` s, or `limit` s passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        last, last_change = -1, loop.time()
        while loop.time() < deadline:
            received, _ = await self.count()
            if received >= expected:
                return
            if received != last:
                last, last_change = received, loop.time()
            elif loop.time() - last_change > quiet:
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await asyncio.gather(*(g.close() for g in self.generators))


def _joins(reports: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "joined": sum(r["joined"] for r in reports),
        "failed": sum(r["failed"] for r in reports),
        "recovered": sum(r["recovered"] for r in reports),
        "errors": [e for r in reports for e in r["errors"]][:5],
        "join_ms": percentiles_ms([d for r in reports for d in r["durations"]]),
    }


class Injector(Child):
    def __init__(self, mode: str, redis_url: str, sessions: list[str]) -> None:
        super().__init__(injector.main, mode, redis_url, sessions)

    async def run(self, rate: float, seconds: float) -> dict[str, Any]:
        return await self.ask("run", {"rate": rate, "seconds": seconds})
