"""The benchmarks' smoke run: every workload briefly, at a low rate, with no event lost (never a timing check)."""

from __future__ import annotations

import shutil

import pytest

from .services import unavailable


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_bench_workload_delivers_every_event() -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    from bench.run import smoke

    result = smoke()
    assert result["ok"], result["problems"]
    assert result["lost"] == 0
