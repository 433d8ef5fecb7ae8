"""Real services for tests: a private redis-server per test session, a fresh PostgreSQL database.

Where a service is missing (a laptop without them) the tests that need it skip
and say why; with CI=true they fail loudly instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI requires this service: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisServer:
    """A redis-server on a free loopback port that a test may stop and start again."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = shutil.which("redis-server")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="streamrelay-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.options: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, options: list[str] | None = None) -> None:
        if self.binary is None:
            unavailable("redis-server is not installed")
        if options is not None:
            self.options = options
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--loglevel", "warning", *self.options],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(b"FLUSHALL\r\n")
            conn.recv(16)


class PostgresDatabase:
    """A database of its own on 127.0.0.1:5432, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"streamrelay_test_{uuid.uuid4().hex[:12]}"

    @property
    def url(self) -> str:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{self.name}"

    async def _admin(self, statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def create(self) -> None:
        import asyncpg

        try:
            await self._admin(f'CREATE DATABASE "{self.name}"')
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            unavailable(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL}: {exc}")

    async def drop(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class RedisCluster:
    """Masters (and `replicas` per master) from the redis-server binary on loopback ports, joined with
    `redis-cli --cluster create`; `fail_over(key)` promotes the replica of the shard that owns `key`."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        self.nodes = [RedisServer(free_cluster_port()) for _ in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def cli(self, port: int, *args: str) -> str:
        cli = shutil.which("redis-cli")
        if cli is None:
            unavailable("redis-cli is not installed")
        return subprocess.run([cli, "-p", str(port), *args], capture_output=True, text=True, timeout=10).stdout

    def start(self) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            unavailable("redis-cli is not installed")
        for node in self.nodes:
            node.start(["--cluster-enabled", "yes", "--cluster-config-file", f"{node.dir}/nodes.conf",
                        "--cluster-node-timeout", "2000"])  # fmt: skip
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
        self.wait_until_healthy()

    def wait_until_healthy(self, within: float = 20) -> None:
        """Every node reports the cluster ok, and every replica's link to its master is up."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if all(self._healthy(node.port) for node in self.nodes if node.process is not None):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis cluster did not become ready")

    def _healthy(self, port: int) -> bool:
        if "cluster_state:ok" not in self.cli(port, "cluster", "info"):
            return False
        replication = self.cli(port, "info", "replication")
        return "role:master" in replication or "master_link_status:up" in replication

    def fail_over(self, key: str, crash: bool = False) -> None:
        """Promote the replica of `key`'s shard: by `CLUSTER FAILOVER`, or (`crash`) by killing its primary."""
        live = next(node for node in self.nodes if node.process is not None)
        slot = int(self.cli(live.port, "cluster", "keyslot", key))
        shard = [line.split() for line in self.cli(live.port, "cluster", "nodes").splitlines()]
        primary = next(n for n in shard if "master" in n[2] and "fail" not in n[2] and _serves(n[8:], slot))
        replica = next(n for n in shard if n[3] == primary[0] and "fail" not in n[2])
        replica_port = int(replica[1].split("@")[0].rsplit(":", 1)[1])
        if crash:
            primary_port = int(primary[1].split("@")[0].rsplit(":", 1)[1])
            next(node for node in self.nodes if node.port == primary_port).stop()
        else:
            assert self.cli(replica_port, "cluster", "failover").strip() == "OK"
        deadline = time.monotonic() + 30
        while "role:master" not in self.cli(replica_port, "info", "replication"):
            assert time.monotonic() < deadline, "the replica was not promoted"
            time.sleep(0.05)
        self.wait_until_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def flush(self) -> None:
        for node in self.nodes:
            if "role:master" in self.cli(node.port, "info", "replication"):
                node.flush()


def _serves(slot_ranges: list[str], slot: int) -> bool:
    """Whether `cluster nodes` slot fields ("5461-10922", "42") cover `slot`."""
    for field in slot_ranges:
        low, _, high = field.partition("-")
        if low.isdigit() and int(low) <= slot <= int(high or low):
            return True
    return False


class PostgresCluster:
    """A PostgreSQL server of the test's own (initdb, pg_ctl) on a free loopback port, to stop and start at will.

    As root (CI), the server runs as the `postgres` user, which initdb requires.
    """

    def __init__(self) -> None:
        found = shutil.which("pg_ctl") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))), None)
        self.bin = os.path.dirname(found) if found else None
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="streamrelay-pg-")
        self.data = os.path.join(self.dir, "data")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        assert self.bin is not None
        command = [os.path.join(self.bin, program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def init(self) -> None:
        if self.bin is None:
            unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        """As abruptly as a crash: connections are cut, nothing waits."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
