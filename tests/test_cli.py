"""The command line: one clear line for bad configuration, tokens, and no secrets in logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay.auth import verify_until
from relay.log_redaction import RedactingFormatter
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
        (
            {"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "TENANT_ALLOWED_HOSTS": "a b"},
            "TENANT_ALLOWED_HOSTS",
        ),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "CREDENTIALS_KEY": "short"}, "CREDENTIALS_KEY"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "CORS_ALLOWED_ORIGINS": "*"},
         "CORS_ALLOWED_ORIGINS"),
        ({"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s", "CORS_ALLOWED_ORIGINS": "https://a.example/app"},
         "CORS_ALLOWED_ORIGINS"),
        ({"HISTORY_TTL_SECONDS": "0"}, "HISTORY_TTL_SECONDS"),
        ({"LOG_MAX_BYTES": "1000"}, "LOG_MAX_BYTES"),
        ({"CONTEXT_MAX_BYTES": "big"}, "CONTEXT_MAX_BYTES"),
    ],
)
def test_bad_configuration_fails_at_start_with_one_line_naming_the_variable(env: dict, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        from_env(env, dev="REDIS_URL" not in env and variable != "REDIS_URL")


def test_what_redis_keeps_is_configured_by_the_environment_with_the_documented_defaults() -> None:
    defaults = from_env({}, dev=True)
    assert (defaults.history_ttl_seconds, defaults.log_max_bytes, defaults.context_max_bytes) == (
        600, 1024 * 1024, 256 * 1024,
    )  # fmt: skip
    chosen = from_env({"HISTORY_TTL_SECONDS": "60", "LOG_MAX_BYTES": "131072", "CONTEXT_MAX_BYTES": "1000"}, dev=True)
    assert (chosen.history_ttl_seconds, chosen.log_max_bytes, chosen.context_max_bytes) == (60, 131072, 1000)


def test_cors_allowed_origins_are_read_as_browsers_send_them() -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET": "s"}
    assert from_env(env).cors_allowed_origins == ()
    listed = from_env({**env, "CORS_ALLOWED_ORIGINS": "https://App.example.com/, http://localhost:5173"})
    assert listed.cors_allowed_origins == ("https://app.example.com", "http://localhost:5173")


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
    claims, _ = verify_until(secret, result.stdout.strip())
    assert (claims.user, claims.tenant, claims.role) == ("alice", "acme", "admin")


def test_token_carries_the_display_name_given_with_name() -> None:
    secret = "a-secret-that-is-long-enough-for-hs256"
    result = run("token", "--user", "u-7", "--tenant", "acme", "--name", "Ada Lovelace", RELAY_SECRET=secret)
    claims, _ = verify_until(secret, result.stdout.strip())
    assert (claims.user, claims.name, claims.role) == ("u-7", "Ada Lovelace", "member")


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def log_line(message: str, *args: object, exc_info: object = None) -> str:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]
    return RedactingFormatter("%(message)s").format(record)


@pytest.mark.parametrize(
    "path",
    [
        f"/socket/websocket?vsn=2.0.0&token={JWT}",
        f"/socket/websocket?TOKEN={JWT}&vsn=2.0.0",
        "/socket/websocket?Token=opaque-not-a-jwt",
        f"/api/sessions/{JWT}/messages",
    ],
)
def test_websocket_upgrade_log_lines_do_not_carry_the_token_in_any_case_or_place(path: str) -> None:
    line = log_line('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", path)
    assert "eyJ" not in line and "opaque" not in line
    assert "<redacted>" in line and line.startswith("127.0.0.1:5000")


def test_headers_and_tracebacks_in_log_lines_carry_no_token() -> None:
    assert log_line("headers: %s", {"Authorization": "Bearer sk-not-a-jwt"}).count("sk-not") == 0
    assert "opaque" not in log_line("AUTHORIZATION: BEARER opaque")
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        line = log_line("failed", exc_info=sys.exc_info())
    assert "ValueError" in line and "eyJ" not in line


def test_python_m_workers_is_streamrelay_worker() -> None:
    """Both start the worker: it alone requires UPSTREAM_URL (the gateway would start serving without it)."""
    gateway_enough = {"REDIS_URL": "redis://127.0.0.1:1/0", "RELAY_SECRET": "s", "UPSTREAM_PROVIDER": "apollo"}
    env = {k: v for k, v in os.environ.items() if k != "UPSTREAM_URL"} | gateway_enough
    streamrelay = str(Path(sys.executable).with_name("streamrelay"))
    for command in ([sys.executable, "-m", "workers"], [streamrelay, "worker"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr.strip()) == (
            2,
            "streamrelay: configuration error: UPSTREAM_URL is required for UPSTREAM_PROVIDER=apollo",
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
