"""One load-generator process: many tabs on one event loop, driven over a pipe by `bench.fleet`.

Commands (tuples): ("connect", spec) → join report; ("count", None) → (received,
finals); ("stats", reset) → `Stats`; ("close", None) → None, then the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from .tabs import DIALECTS, Stats, Tab

HEARTBEAT_SECONDS = 25.0
JOIN_TIMEOUT = 60.0


class Generator:
    def __init__(self) -> None:
        self.tabs: list[Tab] = []
        self.stats = Stats()
        self.heartbeats = asyncio.create_task(self._heartbeat_forever())

    async def connect(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Open one socket per entry of `spec["sessions"]` and join it, `spec["concurrency"]` at a time."""
        loop = asyncio.get_running_loop()
        dialect = DIALECTS[spec["dialect"]]
        host, port, token = spec["host"], spec["port"], spec.get("token", "")
        limit = asyncio.Semaphore(spec.get("concurrency", 50))
        failures: list[str] = []
        durations: list[float] = []

        async def open_one(session_id: str) -> None:
            async with limit:
                began = loop.time()
                try:
                    async with asyncio.timeout(JOIN_TIMEOUT):
                        _, tab = await loop.create_connection(
                            lambda: dialect(host, port, session_id, self.stats, token), host, port
                        )
                        self.tabs.append(tab)
                        await tab.joined
                    durations.append(loop.time() - began)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(open_one(session_id) for session_id in spec["sessions"]))
        return {
            "joined": len(spec["sessions"]) - len(failures),
            "failed": len(failures),
            "errors": failures[:5],
            "durations": durations,
        }

    def take(self, reset: bool) -> Stats:
        stats = self.stats
        if reset:
            self.stats = Stats(per_session=dict.fromkeys(stats.per_session, 0))
            for tab in self.tabs:
                tab.stats = self.stats
        return stats

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            for tab in self.tabs:
                tab.heartbeat()

    async def close(self) -> None:
        self.heartbeats.cancel()
        for tab in self.tabs:
            tab.leave()
        await asyncio.sleep(0.2)


async def serve(conn: Connection) -> None:
    generator = Generator()
    while True:
        command, argument = await asyncio.to_thread(conn.recv)
        if command == "connect":
            conn.send(await generator.connect(argument))
        elif command == "count":
            conn.send((generator.stats.received, generator.stats.finals))
        elif command == "stats":
            conn.send(generator.take(reset=bool(argument)))
        elif command == "close":
            await generator.close()
            conn.send(None)
            return


def main(conn: Connection) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(conn))
