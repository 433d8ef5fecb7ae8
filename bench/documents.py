"""Hosted documents: update fan-out tab → tab across two gateways, what a document costs Redis and SQL
after many small edits (compaction), and gateway CPU per update.

    .venv/bin/python -m bench.documents [--edits 10000] [--rate 250]

Starts its own redis-server, a fresh SQLite database and two `streamrelay serve` gateways on it; one
tab (on gateway 1) types `--edits` one-character edits at `--rate` per second, as y-protocols sync
updates; a second tab (on gateway 2) receives each as a `yjs` broadcast and measures send → receive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import websockets
from pycrdt import Doc, Text, create_sync_message, create_update_message, read_message

from schema.keys import doc_topic, doc_updates_key

from .procfs import cpu_seconds
from .services import Child, Redis, free_port, streamrelay, wait_for_port
from .targets import SECRET, enable_assistant

NAME = "workflow_yaml"


class Tab:
    """One tab of a document: a pycrdt document over the `doc:` channel (binary V2 frames)."""

    def __init__(self, connection: Any, topic: str) -> None:
        self.connection = connection
        self.topic = topic
        self.doc: Doc = Doc()
        self.text = self.doc.get("text", type=Text)
        self.refs = 1
        self.seen: list[tuple[float, int]] = []  # (when, text length) after each update broadcast arrived

    @classmethod
    async def open(cls, port: int, token: str, session_id: str) -> Tab:
        url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0&token={token}"
        tab = cls(await websockets.connect(url, max_size=None), doc_topic(session_id, NAME))
        await tab.connection.send(json.dumps(["1", "1", tab.topic, "phx_join", {}]))
        reply = json.loads(await tab.connection.recv())
        assert reply[4]["status"] == "ok", reply
        await tab.push("yjs_sync", create_sync_message(tab.doc))
        return tab

    async def push(self, event: str, message: bytes) -> None:
        self.refs += 1
        ref = str(self.refs)
        header = bytes((0, 1, len(ref), len(self.topic), len(event)))
        await self.connection.send(header + f"1{ref}{self.topic}{event}".encode() + message)

    async def read(self) -> None:
        async for frame in self.connection:
            if isinstance(frame, bytes) and frame[0] == 2:  # a broadcast: topic, event, message
                message = frame[3 + frame[1] + frame[2] :]
                if message[:2] == b"\x00\x02":  # a sync update (updates typed close together come merged)
                    self.doc.apply_update(read_message(message[2:]))
                    self.seen.append((time.perf_counter(), len(self.text)))

    async def type_one(self, char: str) -> None:
        before = self.doc.get_state()
        self.text += char
        await self.push("yjs", create_update_message(self.doc.get_update(before)))


def arrivals(sent: list[float], seen: list[tuple[float, int]]) -> list[float]:
    """Milliseconds from each edit's push to the first broadcast after which the reader's text held it."""
    latencies, at = [], 0
    for index, pushed in enumerate(sent):
        while at < len(seen) and seen[at][1] < index + 1:
            at += 1
        if at == len(seen):
            break
        latencies.append((seen[at][0] - pushed) * 1000)
    return latencies


async def run(edits: int, rate: float, workdir: Path) -> dict[str, Any]:
    redis = Redis(workdir)
    database = workdir / "documents.db"
    env = {"REDIS_URL": redis.url, "DATABASE_URL": f"sqlite+aiosqlite:///{database}", "RELAY_SECRET": SECRET,
           "HOST": "127.0.0.1", "UPSTREAM_PROVIDER": "demo"}  # fmt: skip
    migrate = streamrelay("migrate")
    await asyncio.to_thread(subprocess.run, migrate, env={**os.environ, **env}, check=True, capture_output=True)
    ports = [free_port(), free_port()]
    gateways = [
        Child(f"gateway-{i}", streamrelay("serve"), workdir, {**env, "PORT": str(p)}) for i, p in enumerate(ports)
    ]
    try:
        for port, gateway in zip(ports, gateways, strict=True):
            wait_for_port(port, gateway.process)
        token, http = await enable_assistant(f"http://127.0.0.1:{ports[0]}")
        async with httpx.AsyncClient(base_url=http, headers={"Authorization": f"Bearer {token}"}) as client:
            created = await client.post("/api/sessions", json={"documents": "relay"})
            created.raise_for_status()
            session_id = created.json()["id"]
        typist, reader = await Tab.open(ports[0], token, session_id), await Tab.open(ports[1], token, session_id)
        reading = asyncio.create_task(reader.read())
        await asyncio.sleep(0.5)  # both synced (an empty document)
        cpu_before = [cpu_seconds(g.pid) for g in gateways]
        sent: list[float] = []
        start = time.perf_counter()
        for i in range(edits):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent.append(time.perf_counter())
            await typist.type_one("abcdefghij\n"[i % 11])
        for _ in range(600):  # polled: up to 30 s for the last updates to arrive
            if reader.seen and reader.seen[-1][1] >= edits:
                break
            await asyncio.sleep(0.05)
        cpu_after = [cpu_seconds(g.pid) for g in gateways]
        latencies = sorted(arrivals(sent, reader.seen))
        await asyncio.sleep(2.5)  # past the fold delay: the log is folded into SQL
        client = aioredis.from_url(redis.url)
        key = doc_updates_key(doc_topic(session_id, NAME))
        redis_bytes = await client.memory_usage(key) or 0
        redis_entries = await client.xlen(key)
        await client.aclose()
        with sqlite3.connect(database) as sql:
            (state,) = sql.execute("SELECT state FROM session_documents WHERE session_id = ?", (session_id,)).fetchone()
        reading.cancel()
        await typist.connection.close()
        await reader.connection.close()
        return {
            "edits": edits,
            "rate_per_s": rate,
            "broadcasts_received": len(reader.seen),
            "latency_ms_p50": round(statistics.median(latencies), 2),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 2),
            "text_chars": len(str(typist.text)),
            "redis_log_bytes": redis_bytes,
            "redis_log_entries": redis_entries,
            "sql_state_bytes": len(state),
            "gateway_cpu_us_per_update": [
                round((a - b) / edits * 1e6, 1) for a, b in zip(cpu_after, cpu_before, strict=True)
            ],
        }
    finally:
        for gateway in gateways:
            gateway.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=250.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(run(args.edits, args.rate, Path(folder))), indent=1))


if __name__ == "__main__":
    main()
