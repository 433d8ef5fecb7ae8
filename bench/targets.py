"""The three servers under test, started as an operator would, and their sessions.

- `streamrelay`: `streamrelay migrate` on a fresh SQLite file, then `streamrelay serve`
  (and, for e2e, `streamrelay worker` processes and the bench upstream).
- `raw`: `bench.peers.raw_relay`.
- `socketio`: `bench.peers.socketio_relay`.
- `streamrelay~<lever>`: streamrelay with one performance lever undone (`bench.variant`).
- `streamrelay-pg`: streamrelay on a fresh PostgreSQL database (`BENCH_POSTGRES_URL`, default
  `postgresql://postgres@127.0.0.1:5432/postgres`: where to create it) instead of SQLite.
- `streamrelay@<git revision>` (or `streamrelay-pg@…`): streamrelay as it was at that commit, from a
  git worktree of this repository (removed afterwards), run with this venv: before and after a
  change in one run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from relay.auth import mint

from .services import Child, free_port, python, streamrelay, wait_for_port
from .variant import LEVERS

SECRET = "bench-secret-that-is-long-enough-for-hs256"
REPO = Path(__file__).resolve().parent.parent
TENANT = "bench"
TARGETS = ("streamrelay", "raw", "socketio")
STREAMRELAYS = ("streamrelay", "streamrelay-pg")
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Server:
    name: str
    dialect: str  # how the load generator speaks to it (bench.tabs.DIALECTS)
    publisher: str  # how the injector publishes to it (bench.injector.PUBLISHERS)
    port: int
    children: list[Child | PostgresDatabase]
    pids: dict[str, list[int]]  # "gateway", and for e2e "workers", "upstream"
    token: str = ""
    http: str = ""
    upstream: str = ""  # e2e: the bench upstream's base URL

    async def create_sessions(self, count: int) -> list[str]:
        if not self.http:
            return [str(uuid.uuid4()) for _ in range(count)]
        limit = asyncio.Semaphore(16)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.http, headers=headers, timeout=30) as client:

            async def create() -> str:
                async with limit:
                    response = await client.post("/api/sessions", json={"title": "bench"})
                    response.raise_for_status()
                    return response.json()["id"]

            return list(await asyncio.gather(*(create() for _ in range(count))))

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


@dataclass
class E2E:
    """The e2e pipeline behind a streamrelay gateway."""

    workers: int
    concurrency: int
    chunks: int
    rate: float
    phase: bool = True  # False: the upstream sends its first text delta at once (time to first token)


class PostgresDatabase:
    """A database of its own for one server under test, dropped when the server stops."""

    def __init__(self) -> None:
        self.name = f"bench_{uuid.uuid4().hex[:12]}"
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        self.url = base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + self.name

    async def create(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.name}"')

    def stop(self) -> None:
        runner = threading.Thread(target=asyncio.run, args=(self._admin(f'DROP DATABASE IF EXISTS "{self.name}"'),))
        runner.start()
        runner.join()

    async def _admin(self, statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


class Checkout:
    """This repository at `revision`, in a git worktree of its own under `workdir` while a server runs."""

    name = "checkout"  # among a server's children, which e2e and ttft search by name for the workers

    def __init__(self, revision: str, workdir: Path) -> None:
        self.path = workdir / f"checkout-{revision}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(self.path), revision],
                       check=True, capture_output=True)  # fmt: skip

    def stop(self) -> None:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(self.path)], capture_output=True)


def known(name: str) -> bool:
    name, _, revision = name.partition("@")
    base, _, lever = name.partition("~")
    if revision:
        return name in STREAMRELAYS
    return name in TARGETS or name == "streamrelay-pg" or (base == "streamrelay" and lever in LEVERS)


async def start(name: str, redis_url: str, workdir: Path, e2e: E2E | None = None) -> Server:
    base, _, lever = name.partition("@")[0].partition("~")
    if base in STREAMRELAYS:
        return await _start_streamrelay(name, redis_url, workdir, e2e, lever)
    port = free_port()
    module = {"raw": "bench.peers.raw_relay", "socketio": "bench.peers.socketio_relay"}[name]
    child = Child(name, python(module, "--port", str(port), "--redis-url", redis_url), workdir)
    try:
        wait_for_port(port, child.process)
    except RuntimeError:
        child.stop()
        raise
    dialect, publisher = ("phoenix", "broker") if name == "raw" else ("socketio", "socketio")
    return Server(name, dialect, publisher, port, [child], {"gateway": [child.pid]})


async def _start_streamrelay(name: str, redis_url: str, workdir: Path, e2e: E2E | None, lever: str = "") -> Server:
    def command(*args: str) -> list[str]:
        return python("bench.variant", lever, *args) if lever else streamrelay(*args)

    children: list[Child | PostgresDatabase | Checkout] = []
    database_url = f"sqlite+aiosqlite:///{workdir / f'streamrelay-{uuid.uuid4().hex[:8]}.db'}"
    if name.startswith("streamrelay-pg"):
        database = PostgresDatabase()
        await database.create()
        children.append(database)
        database_url = database.url
    port = free_port()
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "RELAY_SECRET": SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "UPSTREAM_PROVIDER": "demo",  # the gateway never calls it; it only checks the assistant is configured
        # one bench user drives every tab and session: the per-user limits are not what is measured
        "MAX_SOCKETS_PER_USER": "1000000",
        "USER_BURST": "1000000",
        "USER_REQUESTS_PER_SECOND": "1000000",
    }
    pids: dict[str, list[int]] = {}
    upstream_url = ""
    try:
        revision = name.partition("@")[2]
        if revision:  # its `relay`, `workers` and `schema` come first on the path
            checkout = Checkout(revision, workdir)
            children.append(checkout)
            env["PYTHONPATH"] = str(checkout.path)
        migrate = streamrelay("migrate")
        await asyncio.to_thread(subprocess.run, migrate, env={**os.environ, **env}, check=True, capture_output=True)
        if e2e is not None:
            upstream_port = free_port()
            argv = python("bench.upstream", "--port", str(upstream_port), "--chunks", str(e2e.chunks),
                          "--rate", str(e2e.rate), *([] if e2e.phase else ["--no-phase"]))  # fmt: skip
            upstream = Child("upstream", argv, workdir)
            children.append(upstream)
            wait_for_port(upstream_port, upstream.process)
            worker_env = {**env, "UPSTREAM_PROVIDER": "apollo", "UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
                          "WORKER_CONCURRENCY": str(e2e.concurrency)}  # fmt: skip
            workers = [Child(f"worker-{i}", command("worker"), workdir, worker_env) for i in range(e2e.workers)]
            children += workers
            pids["upstream"] = [upstream.pid]
            upstream_url = f"http://127.0.0.1:{upstream_port}"
            pids["workers"] = [worker.pid for worker in workers]
            env = {**env, "UPSTREAM_PROVIDER": "apollo", "UPSTREAM_URL": upstream_url}  # as the workers see it
        gateway = Child("gateway", command("serve"), workdir, env)
        children.append(gateway)
        pids["gateway"] = [gateway.pid]
        wait_for_port(port, gateway.process)
        token, http = await enable_assistant(f"http://127.0.0.1:{port}")
        return Server(name, "phoenix", "broker", port, children, pids, token, http, upstream_url)
    except BaseException:
        for child in reversed(children):
            child.stop()
        raise


async def enable_assistant(http: str) -> tuple[str, str]:
    """Turn the AI assistant on for the bench tenant; returns (a member's token, `http`)."""
    admin = mint(SECRET, "bench-admin", TENANT, "admin")
    async with httpx.AsyncClient(base_url=http, timeout=30) as client:
        response = await client.put(
            "/api/tenant/settings",
            json={"experimental_features": {"ai_assistant": True}},
            headers={"Authorization": f"Bearer {admin}"},
        )
        response.raise_for_status()
    return mint(SECRET, "bench-user", TENANT), http
