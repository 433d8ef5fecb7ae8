"""Workers as real OS processes (`streamrelay worker`), next to an in-process gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from ..system import SECRET, Backend, System

ROOT = Path(__file__).resolve().parents[2]
STREAMRELAY = str(Path(sys.executable).with_name("streamrelay"))


class WorkerProcess:
    """One `streamrelay worker`; its log goes to a file, shown when a test fails."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 20) -> None:
        """Start, and return once the worker takes jobs."""
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                STREAMRELAY, "worker", env=self.env, cwd=ROOT, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        async with asyncio.timeout(within):
            while "taking jobs" not in self.log():
                assert self.process.returncode is None, f"the worker exited early:\n{self.log()}"
                await asyncio.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def until_logged(self, text: str, within: float) -> None:
        """Return once the worker's log holds `text`."""
        async with asyncio.timeout(within):
            while text not in self.log():
                assert self.process is None or self.process.returncode is None, f"the worker exited:\n{self.log()}"
                await asyncio.sleep(0.05)

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def exit_code(self, within: float) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), within)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class ProcessSystem(System):
    """The gateway in this process; every worker a `streamrelay worker` process calling `upstream_url`.

    `start_worker(**env)` starts one more, with extra environment variables.
    """

    def __init__(self, backend: Backend, upstream_url: str, log_dir: Path, **env: str) -> None:
        super().__init__(backend)
        assert backend.redis_url is not None, "worker processes need Redis"
        self.env = {
            **os.environ,
            "REDIS_URL": backend.redis_url,
            "DATABASE_URL": backend.database_url,
            "RELAY_SECRET": SECRET,
            "UPSTREAM_PROVIDER": "apollo",
            "UPSTREAM_URL": upstream_url,
            **env,
        }
        self.log_dir = log_dir
        self.processes: list[WorkerProcess] = []

    async def start_worker(self, **env: str) -> WorkerProcess:  # type: ignore[override]
        worker = WorkerProcess({**self.env, **env}, self.log_dir / f"worker-{len(self.processes) + 1}.log")
        self.processes.append(worker)
        await worker.start()
        return worker

    async def __aexit__(self, *exc_info: object) -> None:
        for worker in self.processes:
            await worker.kill()
        await super().__aexit__(*exc_info)
