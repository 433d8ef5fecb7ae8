"""What one idle streamrelay connection holds: tracemalloc around N joined sockets.

The gateway runs in this process (uvloop, the same app and uvicorn options as
`streamrelay serve`) so that tracemalloc sees its allocations; the tabs come
from a load-generator process as in the idle workload.

    python -m bench.memprofile --sockets 300
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
from pathlib import Path

import uvloop

from relay.app import create_app
from relay.server import EmbeddedServer, uvicorn_options
from relay.settings import Settings
from schema.db import create_engine
from schema.migrate import upgrade

from .fleet import Fleet
from .procfs import memory_kib
from .services import Redis
from .targets import SECRET, Server, enable_assistant

RESULTS = Path(__file__).with_name("results")


async def measure(sockets: int, out: Path, top: int) -> str:
    redis = Redis(out)
    database_url = f"sqlite+aiosqlite:///{out / 'memprofile.db'}"
    engine = create_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    settings = Settings(redis_url=redis.url, database_url=database_url, secret=SECRET, upstream_provider="demo",
                        host="127.0.0.1", port=0)  # fmt: skip
    gateway = EmbeddedServer(create_app(settings), **{**uvicorn_options(settings), "log_level": "warning"})
    fleet: Fleet | None = None
    try:
        await gateway.start()
        server = Server("streamrelay", "phoenix", "broker", gateway.port, [], {}, *await enable_assistant(gateway.url))
        ids = await server.create_sessions(sockets // 2 + 25)
        fleet = Fleet(1)
        await fleet.connect("phoenix", gateway.port, [s for s in ids[:25] for _ in range(2)], server.token)
        gc.collect()
        tracemalloc.start(6)
        before, rss_before = tracemalloc.take_snapshot(), memory_kib_self()
        joined = await fleet.connect("phoenix", gateway.port, [s for s in ids[25:] for _ in range(2)], server.token)
        await asyncio.sleep(2)
        gc.collect()
        after, rss_after = tracemalloc.take_snapshot(), memory_kib_self()
        count = joined["joined"]
        diff = after.compare_to(before, "traceback")
        traced = sum(stat.size_diff for stat in diff)
        lines = [
            f"{count} sockets joined; RSS +{(rss_after - rss_before) / count:.1f} KiB per socket "
            f"(under tracemalloc); Python heap +{traced / count / 1024:.1f} KiB per socket",
            "",
            "bytes/socket  allocations/socket  where (innermost frame first, project and library code)",
        ]
        for stat in diff[:top]:
            frames = [f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback)][:4]
            lines.append(f"{stat.size_diff / count:12.0f}  {stat.count_diff / count:18.1f}  {' ← '.join(frames)}")
        return "\n".join(lines)
    finally:
        tracemalloc.stop()
        if fleet is not None:
            await fleet.close()
        await gateway.stop()
        redis.stop()


def memory_kib_self() -> int:
    return memory_kib(os.getpid())["VmRSS"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memprofile", description=__doc__)
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    out = RESULTS / time.strftime("memprofile-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    text = uvloop.run(measure(args.sockets, out, args.top))
    (out / "memprofile.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
