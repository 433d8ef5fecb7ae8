"""Node.js for the JavaScript tests: the binary, and a package folder installed exactly as its lock pins."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .services import unavailable


def installed(folder: Path) -> bool:
    """Whether node_modules holds exactly what package-lock.json pins."""
    lock = json.loads((folder / "package-lock.json").read_text())
    for path, entry in lock["packages"].items():
        if not path or entry.get("link") or (entry.get("optional") and not (folder / path).exists()):
            continue  # a link (`file:` dependency) is checked as the folder it points to
        manifest = folder / path / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text()).get("version") != entry["version"]:
            return False
    return True


def node_for(folder: Path) -> str:
    """The node binary, with `folder` installed (`npm ci`, only when node_modules is missing or stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable(f"node and npm are not installed (needed by {folder.name})")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        unavailable(f"node {version} is too old: {folder.name} needs node 20 or newer")
    if not installed(folder):
        with _install_lock(folder):
            if not installed(folder):  # another test process may have installed it while this one waited
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=folder, capture_output=True, text=True, timeout=300, check=False,
                )  # fmt: skip
                if done.returncode != 0 or not installed(folder):
                    unavailable(f"`npm ci` in {folder} failed: {done.stderr.strip()[-2000:]}")
    return node


@contextlib.contextmanager
def _install_lock(folder: Path) -> Iterator[None]:
    """Held while `npm ci` runs in `folder`: parallel test workers (pytest-xdist) install it once, one at a time;
    the lock file lives in the temp dir, keyed by the folder's path, so nothing is written into the repository."""
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"streamrelay-npm-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def run_node_tests(folder: Path, files: list[str], gateway: dict[str, Any], minimum: int) -> None:
    """`node --test` of `files` in `folder`, told the gateway in STREAMRELAY_TEST: every test must pass
    and at least `minimum` of them run (none skipped, a skipped gateway test would hide a missing fixture)."""
    node = node_for(folder)
    process = await asyncio.create_subprocess_exec(
        node, "--test", "--test-reporter=tap", *files,
        cwd=folder, env={**os.environ, "STREAMRELAY_TEST": json.dumps(gateway)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 300)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode()
    failed = [line for line in report.splitlines() if line.lstrip().startswith("not ok")]
    assert process.returncode == 0 and not failed, "\n".join(failed) + "\n\n" + report[-6000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped|cancelled|todo) (\d+)$", report, re.MULTILINE))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0" and counts.get("cancelled") == "0", counts
    assert int(counts.get("pass", "0")) >= minimum, report[-3000:]
