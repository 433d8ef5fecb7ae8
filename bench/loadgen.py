"""One load-generator process: many tabs on one event loop, driven over a pipe by `bench.fleet`.

Commands (tuples): ("connect", spec) → join report; ("count", None) → (received,
finals); ("stats", reset) → `Stats`; ("drop", None) → tabs closed, each one's
position kept; ("rejoin", concurrency) → join report of one new socket per dropped
tab, joined with `since` (a reconnect); ("streaming", None) → (tabs that received an
event since their join, the latest first-event time); ("close", None) → None, then
the process ends.
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
        self.dropped: list[tuple[str, tuple[str, int] | None]] = []  # (session, position) of closed tabs
        self.stats = Stats()
        self.spec: dict[str, Any] = {}
        self.heartbeats = asyncio.create_task(self._heartbeat_forever())

    async def connect(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Open one socket per entry of `spec["sessions"]` and join it, `spec["concurrency"]` at a time."""
        self.spec = spec
        return await self._open([(session_id, None) for session_id in spec["sessions"]], spec.get("concurrency", 50))

    def drop(self) -> None:
        """Close every tab (a gateway going away), keeping where each one was for `rejoin`."""
        self.dropped = [(tab.session_id, tab.position()) for tab in self.tabs]
        for tab in self.tabs:
            tab.leave()
        self.tabs = []

    async def rejoin(self, concurrency: int) -> dict[str, Any]:
        """One new socket per dropped tab, joined with `since` where the old one had a position."""
        dropped, self.dropped = self.dropped, []
        return await self._open(dropped, concurrency)

    def streaming(self) -> tuple[int, float]:
        """Tabs that received an event since they joined, and the latest such first event's time."""
        times = [tab.first_event_at for tab in self.tabs if tab.first_event_at is not None]
        return len(times), max(times, default=0.0)

    async def _open(self, tabs: list[tuple[str, tuple[str, int] | None]], concurrency: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        spec = self.spec
        dialect = DIALECTS[spec["dialect"]]
        host, port, token = spec["host"], spec["port"], spec.get("token", "")
        limit = asyncio.Semaphore(concurrency)
        failures: list[str] = []
        durations: list[float] = []
        recovered = 0

        async def open_one(session_id: str, since: tuple[str, int] | None) -> None:
            nonlocal recovered
            async with limit:
                began = loop.time()
                try:
                    async with asyncio.timeout(JOIN_TIMEOUT):
                        _, tab = await loop.create_connection(
                            lambda: dialect(host, port, session_id, self.stats, token, since), host, port
                        )
                        self.tabs.append(tab)
                        await tab.joined
                    durations.append(loop.time() - began)
                    recovered += tab.recovered
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(open_one(session_id, since) for session_id, since in tabs))
        return {
            "joined": len(tabs) - len(failures),
            "failed": len(failures),
            "errors": failures[:5],
            "durations": durations,
            "recovered": recovered,
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
        elif command == "drop":
            generator.drop()
            conn.send(None)
        elif command == "rejoin":
            conn.send(await generator.rejoin(argument))
        elif command == "streaming":
            conn.send(generator.streaming())
        elif command == "close":
            await generator.close()
            conn.send(None)
            return


def main(conn: Connection) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(conn))
