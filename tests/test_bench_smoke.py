"""The benchmarks' smoke run: every workload briefly, at a low rate, with no event lost (never a timing check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.variant import LEVERS

from .services import RedisServer, free_port, unavailable


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_bench_workload_delivers_every_event() -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    from bench.run import smoke

    result = smoke()
    assert result["ok"], result["problems"]
    assert result["lost"] == 0


@pytest.mark.parametrize("lever", sorted(LEVERS))
def test_each_bench_lever_variant_serves_streamrelay(lever: str, redis_server: RedisServer, tmp_path: Path) -> None:
    """`bench.variant` undoes the lever, then runs `streamrelay migrate` and `serve` as the bench does."""
    port = free_port()
    env = {
        **os.environ, "RELAY_SECRET": "a-secret-long-enough-for-hs256-signatures", "PORT": str(port),
        "HOST": "127.0.0.1", "REDIS_URL": redis_server.url, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/v.db",
    }  # fmt: skip
    variant = [sys.executable, "-m", "bench.variant", lever]
    subprocess.run([*variant, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    server = subprocess.Popen([*variant, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the variant did not become ready"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)


def test_an_unknown_bench_lever_is_refused_with_the_known_ones() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.variant", "turbo", "serve"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "stdlib-json" in done.stderr


def test_the_e2e_report_gives_redis_cost_per_chunk_with_its_busiest_commands_first() -> None:
    from bench.commandstats import per_chunk

    stats = {"evalsha": {"calls": 2000, "usec": 60000.0}, "xadd": {"calls": 2000, "usec": 10000.0},
             "xreadgroup": {"calls": 4, "usec": 100.0}}  # fmt: skip
    cost = per_chunk(stats, redis_cpu_s=0.08, chunks=2000)
    assert cost["redis_us_per_chunk"] == 40.0
    assert cost["script_us_per_chunk"] == 30.0  # the script's time, its inner commands (xadd) included
    assert list(cost["redis_commands"]) == ["evalsha", "xadd", "xreadgroup"]
    assert cost["redis_commands"]["xadd"] == {"calls": 2000, "calls_per_chunk": 1.0, "us_per_call": 5.0,
                                              "us_per_chunk": 5.0}  # fmt: skip
