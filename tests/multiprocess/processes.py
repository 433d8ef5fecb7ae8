"""streamrelay as separate OS processes: gateways and workers on one Redis and one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from relay.auth import mint

from ..services import PostgresDatabase, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "multiprocess-test-secret-long-enough-for-hs256"


class Deployment:
    def __init__(self, redis: RedisServer, database: PostgresDatabase, upstream_url: str, **env: str) -> None:
        self.env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "REDIS_URL": redis.url,
            "DATABASE_URL": database.url,
            "RELAY_SECRET": SECRET,
            "UPSTREAM_PROVIDER": "apollo",
            "UPSTREAM_URL": upstream_url,
            "JOB_CLAIM_IDLE_SECONDS": "3",
            **env,
        }
        self.processes: list[asyncio.subprocess.Process] = []

    async def migrate(self) -> None:
        process = await asyncio.create_subprocess_exec(str(BIN / "streamrelay"), "migrate", env=self.env, cwd=ROOT)
        assert await process.wait() == 0

    async def _start(self, command: str, **env: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            str(BIN / "streamrelay"), command, env={**self.env, **env}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.processes.append(process)
        return process

    async def gateway(self, **env: str) -> tuple[str, asyncio.subprocess.Process]:
        port = free_port()
        process = await self._start("serve", PORT=str(port), HOST="127.0.0.1", **env)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                assert process.returncode is None, "the gateway exited while starting"
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        return url, process
                await asyncio.sleep(0.05)
        raise AssertionError("the gateway never became ready")

    async def worker(self) -> asyncio.subprocess.Process:
        return await self._start("worker")

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


def token(user: str = "alice", tenant: str = "acme", role: str = "member") -> str:
    return mint(SECRET, user, tenant, role)


def auth(user: str = "alice", tenant: str = "acme", role: str = "member") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, tenant, role)}"}


async def new_session(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        enabled = await http.put(
            "/api/tenant/settings", json={"experimental_features": {"ai_assistant": True}}, headers=auth(role="admin")
        )
        assert enabled.status_code == 200, enabled.text
        created = await http.post("/api/sessions", json={"title": "multi"}, headers=auth())
        return created.json()["id"]


async def post_message(url: str, session_id: str, content: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.post(f"/api/sessions/{session_id}/messages", json={"content": content}, headers=auth())
