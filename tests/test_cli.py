"""The command line: one clear line for bad configuration, tokens, and no secrets in logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay.auth import verify
from relay.cli import RedactTokens
from relay.settings import ConfigError, from_env

STREAMRELAY = str(Path(sys.executable).parent / "streamrelay")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "RELAY_SECRET", "UPSTREAM_URL"}}
    return subprocess.run([STREAMRELAY, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "REDIS_URL"),
        ({"REDIS_URL": "http://nope"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://127.0.0.1:1"}, "RELAY_SECRET"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "PORT": "eighty"}, "PORT"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "UPSTREAM_PROVIDER": "skynet"}, "UPSTREAM_PROVIDER"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "DATABASE_URL": "postgresql://x/y"}, "DATABASE_URL"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "TENANT_ALLOWED_HOSTS": "a b"},
         "TENANT_ALLOWED_HOSTS"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "CREDENTIALS_KEY": "short"}, "CREDENTIALS_KEY"),
    ],
)
def test_bad_configuration_fails_at_start_with_one_line_naming_the_variable(env: dict, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        from_env(env)


def test_serve_refuses_to_start_without_a_secret_and_says_so_in_one_line() -> None:
    result = run("serve", REDIS_URL="redis://127.0.0.1:1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamrelay: configuration error: RELAY_SECRET is required (the HMAC key that signs tokens)"
    ]


def test_a_worker_needs_an_upstream_url() -> None:
    result = run("worker", REDIS_URL="redis://127.0.0.1:1", RELAY_SECRET="s", UPSTREAM_PROVIDER="apollo")
    assert result.returncode == 2
    assert "UPSTREAM_URL is required" in result.stderr


def test_token_mints_a_token_the_gateway_accepts() -> None:
    secret = "a-secret-that-is-long-enough-for-hs256"
    result = run("token", "--user", "alice", "--tenant", "acme", "--admin", RELAY_SECRET=secret)
    claims = verify(secret, result.stdout.strip())
    assert (claims.user, claims.tenant, claims.role) == ("alice", "acme", "admin")


def test_token_carries_the_display_name_given_with_name() -> None:
    secret = "a-secret-that-is-long-enough-for-hs256"
    result = run("token", "--user", "u-7", "--tenant", "acme", "--name", "Ada Lovelace", RELAY_SECRET=secret)
    claims = verify(secret, result.stdout.strip())
    assert (claims.user, claims.name, claims.role) == ("u-7", "Ada Lovelace", "member")


def test_websocket_upgrade_log_lines_do_not_carry_the_token() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/socket/websocket?vsn=2.0.0&token=eyJhbGciOi.secret.sig"), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "eyJ" not in record.getMessage()
    assert "token=<redacted>" in record.getMessage()


def test_python_m_workers_is_streamrelay_worker() -> None:
    """Both start the worker: it alone requires UPSTREAM_URL (the gateway would start serving without it)."""
    gateway_enough = {"REDIS_URL": "redis://127.0.0.1:1/0", "RELAY_SECRET": "s", "UPSTREAM_PROVIDER": "apollo"}
    env = {k: v for k, v in os.environ.items() if k != "UPSTREAM_URL"} | gateway_enough
    streamrelay = str(Path(sys.executable).with_name("streamrelay"))
    for command in ([sys.executable, "-m", "workers"], [streamrelay, "worker"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr.strip()) == (
            2, "streamrelay: configuration error: UPSTREAM_URL is required for UPSTREAM_PROVIDER=apollo"
        ), command


def test_dev_listens_on_loopback_and_serve_on_every_address_unless_host_says_otherwise() -> None:
    assert from_env({}, dev=True).host == "127.0.0.1"
    assert from_env({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s"}).host == "0.0.0.0"
    assert from_env({"HOST": "0.0.0.0"}, dev=True).host == "0.0.0.0"


def test_a_workers_metrics_port_listens_on_loopback_by_default() -> None:
    from workers.main import serve_worker_metrics

    server = serve_worker_metrics(from_env({}, dev=True))  # METRICS_PORT unset here: any free port
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
