"""The benchmarks' smoke run: every workload briefly, at a low rate, with no event lost (never a timing check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bench.variant import LEVERS
from relay.auth import verify

from .services import unavailable


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_bench_workload_delivers_every_event() -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    from bench.run import smoke

    result = smoke()
    assert result["ok"], result["problems"]
    assert result["lost"] == 0


@pytest.mark.parametrize("lever", sorted(LEVERS))
def test_each_bench_lever_variant_starts_streamrelay_with_the_lever_undone(lever: str) -> None:
    """`bench.variant` runs a streamrelay command after undoing the lever; `token` needs no services."""
    env = {**os.environ, "RELAY_SECRET": "a-secret-long-enough-for-hs256-signatures"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.variant", lever, "token", "--user", "u", "--tenant", "t"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert verify(env["RELAY_SECRET"], done.stdout.strip()).user == "u"


def test_an_unknown_bench_lever_is_refused_with_the_known_ones() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.variant", "turbo", "serve"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "stdlib-json" in done.stderr
