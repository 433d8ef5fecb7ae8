"""Where a server's CPU goes: py-spy on the gateway (or workers) under a bench workload.

    python -m bench.profile                          # streamrelay, fan-out 100 × 2 at 2,000 events/s
    python -m bench.profile --target raw --rate 4000 --sessions 10 --tabs 10
    python -m bench.profile --e2e                    # the e2e workload, profiling gateway and workers
    python -m bench.profile --e2e --gil              # only samples holding the GIL: CPU, not waits
    python -m bench.profile --joins --seconds 5      # the gateway during a reconnect storm (bench.joins)
    python -m bench.profile --joins --phase connect  # … during the first connect (joins without `since`)
    python -m bench.profile --ttft --seconds 8       # gateway and worker while generations start at 33/s

Without `--gil`, py-spy also counts a thread that is runnable but not running (preempted,
e.g. right after a socket write woke Redis on a busy machine) and some time uvloop spends
in epoll, so `Runner.run` and `StreamWriter.writelines` look far hotter than their CPU.

Writes collapsed stacks (`*.collapsed.txt`, which speedscope.app opens as is)
under bench/results/profile-<stamp>/ and prints the hottest functions, by
self time and by inclusive time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .e2e import E2EConfig, e2e
from .fanout import rig
from .joins import JoinsConfig, joins
from .services import Redis
from .targets import Server
from .ttft import TtftConfig, ttft

RESULTS = Path(__file__).with_name("results")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install -r bench/requirements.txt")
    return found


def record(pid: int, out: Path, seconds: float, gil: bool = False) -> subprocess.Popen[bytes]:
    argv = [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
            "--duration", str(int(seconds)), "--rate", "250", "--nonblocking", *(["--gil"] if gil else [])]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(frame: str) -> str:
    """`function (path/to/module.py:123)` → `function (module.py)`; lines vary, functions don't."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1]})" if where else name


def hot_spots(collapsed: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{collapsed.name}: {total} samples while on CPU", "", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {frame}" for frame, n in own.most_common(top)]
    lines += ["", "incl %   function"]
    lines += [f"{100 * n / total:6.1f}   {frame}" for frame, n in inclusive.most_common(top + 15)]
    return "\n".join(lines)


async def profile_fanout(args: argparse.Namespace, out: Path) -> list[Path]:
    redis = Redis(out)
    try:
        async with rig(args.target, redis, out, args.sessions, args.tabs, 2) as running:
            await running.step(args.rate, 1.0)
            target = out / f"{args.target}-gateway.collapsed.txt"
            spy = record(running.server.pids["gateway"][0], target, args.seconds, args.gil)
            injected = await running.step(args.rate, args.seconds + 1)
            await asyncio.to_thread(spy.wait)
            print(f"delivered {injected['delivered_per_s']}/s, {injected['gateway_us_per_event']} µs/event, "
                  f"p99 {injected['latency_ms']['p99']} ms, lost {injected['lost']}")  # fmt: skip
            return [target]
    finally:
        redis.stop()


async def profile_e2e(args: argparse.Namespace, out: Path) -> list[Path]:
    redis = Redis(out)
    spies: list[tuple[subprocess.Popen[bytes], Path]] = []

    def attach(server: Server) -> None:
        for name in ("gateway", "workers"):
            for i, pid in enumerate(server.pids[name]):
                path = out / f"e2e-{name}{i}.collapsed.txt"
                spies.append((record(pid, path, args.seconds, args.gil), path))

    try:
        report = await e2e(redis, out, E2EConfig(generations=args.generations), on_start=attach)
        print(f"p99 {report['latency_ms']['p99']} ms, worker {report['worker_us_per_chunk']} µs/chunk, "
              f"gateway {report['gateway_us_per_event']} µs/event, lost {report['lost']}")  # fmt: skip
    finally:
        for spy, _ in spies:
            await asyncio.to_thread(spy.wait)
        redis.stop()
    return [path for _, path in spies]


async def profile_ttft(args: argparse.Namespace, out: Path) -> list[Path]:
    redis = Redis(out)
    spies: list[tuple[subprocess.Popen[bytes], Path]] = []

    def attach(server: Server) -> None:
        for name in ("gateway", "workers"):
            for i, pid in enumerate(server.pids[name]):
                path = out / f"ttft-{name}{i}.collapsed.txt"
                spies.append((record(pid, path, args.seconds, args.gil), path))

    try:
        report = await ttft(redis, out, TtftConfig(), args.target, on_start=attach)
        print(f"accepted → upstream {report['accepted_to_upstream_ms']}, worker {report['worker_ms_per_generation']} "
              f"ms/generation, gateway {report['gateway_ms_per_generation']} ms/generation")  # fmt: skip
    finally:
        for spy, _ in spies:
            await asyncio.to_thread(spy.wait)
        redis.stop()
    return [path for _, path in spies]


async def profile_joins(args: argparse.Namespace, out: Path) -> list[Path]:
    redis = Redis(out)
    spies: list[tuple[subprocess.Popen[bytes], Path]] = []

    def attach(phase: str, server: Server) -> None:
        if phase == args.phase:
            path = out / f"joins-{phase}-{args.target}-gateway.collapsed.txt"
            spies.append((record(server.pids["gateway"][0], path, args.seconds, args.gil), path))

    try:
        config = JoinsConfig(sessions=args.sessions * 10, tabs=args.tabs)
        report = await joins(args.target, redis, out, config, on_phase=attach)
        print(f"storm of {report['tabs']}: {report['joins_per_s']} joins/s, p99 {report['join_ms']['p99']} ms, "
              f"{report['gateway_ms_per_join']} ms of gateway CPU per join")  # fmt: skip
    finally:
        for spy, _ in spies:
            await asyncio.to_thread(spy.wait)
        redis.stop()
    return [path for _, path in spies]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--target", default="streamrelay",
                        choices=("streamrelay", "streamrelay-pg", "raw", "socketio"))  # fmt: skip
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--tabs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--e2e", action="store_true", help="profile gateway and workers under the e2e workload")
    parser.add_argument("--generations", type=int, default=100, help="concurrent generations in --e2e")
    parser.add_argument("--joins", action="store_true", help="profile the gateway in a reconnect storm of "
                        "sessions × 10 sessions × tabs tabs")  # fmt: skip
    parser.add_argument("--phase", choices=("connect", "storm"), default="storm",
                        help="--joins: profile the first connect (joins without `since`) or the storm")  # fmt: skip
    parser.add_argument("--ttft", action="store_true", help="profile gateway and worker under the ttft workload")
    parser.add_argument("--gil", action="store_true", help="sample only threads holding the GIL (py-spy --gil)")
    args = parser.parse_args(argv)
    out = RESULTS / time.strftime("profile-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    if args.e2e:
        paths = asyncio.run(profile_e2e(args, out))
    elif args.ttft:
        paths = asyncio.run(profile_ttft(args, out))
    elif args.joins:
        paths = asyncio.run(profile_joins(args, out))
    else:
        paths = asyncio.run(profile_fanout(args, out))
    for path in paths:
        summary = hot_spots(path)
        path.with_suffix(".top.txt").write_text(summary)
        print(summary, "\n")
    print(f"profiles in {out}")


if __name__ == "__main__":
    main()
