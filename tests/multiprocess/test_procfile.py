"""The Procfile as an operator runs it: honcho with two workers, real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from relay.auth import mint
from relay.demo_upstream import DemoUpstream

from ..phoenix import PhoenixClient
from ..services import PostgresDatabase, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "procfile-test-secret-long-enough-for-hs256"


async def wait_until_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            assert process.returncode is None, "honcho exited early"
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the gateway never became ready")


async def test_procfile_with_two_workers_streams_a_message_end_to_end(redis_server: RedisServer) -> None:
    database = PostgresDatabase()
    await database.create()
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database.url,
        "RELAY_SECRET": SECRET,
        "UPSTREAM_PROVIDER": "apollo",
    }
    async with DemoUpstream(chunk_delay=0.002) as upstream:
        env["UPSTREAM_URL"] = upstream.url
        migrate = await asyncio.create_subprocess_exec(f"{bin_dir}/streamrelay", "migrate", env=env, cwd=ROOT)
        assert await migrate.wait() == 0
        honcho = await asyncio.create_subprocess_exec(
            f"{bin_dir}/honcho", "start", "-c", "worker=2", "-p", str(port),
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_until_ready(url, honcho)
            admin = {"Authorization": f"Bearer {mint(SECRET, 'root', 'acme', 'admin')}"}
            member = {"Authorization": f"Bearer {mint(SECRET, 'alice', 'acme')}"}
            async with httpx.AsyncClient(base_url=url) as http:
                enabled = await http.put("/api/tenant/settings", json={"experimental_features": {"ai_assistant": True}},
                                         headers=admin)  # fmt: skip
                assert enabled.status_code == 200
                session_id = (await http.post("/api/sessions", json={"title": "ops"}, headers=member)).json()["id"]
                tab = await PhoenixClient.connect(url, mint(SECRET, "alice", "acme"))
                topic = f"ai_session:{session_id}"
                assert (await tab.join(topic))["status"] == "ok"
                posted = await http.post(f"/api/sessions/{session_id}/messages", json={"content": "hello"},
                                         headers=member)  # fmt: skip
                assert posted.status_code == 202
                events = await tab.events_until(topic)
                await tab.close()
            chunks = "".join(p["content"] for e, p in events if e == "streaming_chunk")
            final = events[-1][1]["message"]
            assert final["status"] == "success"
            assert final["content"] == chunks and chunks
        finally:
            os.killpg(honcho.pid, signal.SIGTERM)
            output, _ = await asyncio.wait_for(honcho.communicate(), 30)
            await database.drop()
    assert b"worker.2" in output, output.decode(errors="replace")[-2000:]
