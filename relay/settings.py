"""Environment → one validated `Settings` object.

Bad configuration fails at start with one clear line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from schema.ai_config import Operator
from schema.credentials import Credentials
from schema.outbound import DEFAULT_ALLOWED_HOSTS, OutboundPolicy

PROVIDERS = ("apollo", "openai", "anthropic", "demo")


class ConfigError(Exception):
    """A configuration variable is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    redis_cluster: bool = False
    database_url: str = "sqlite+aiosqlite:///./streamrelay.db"
    secret: str | None = None
    upstream_provider: str = "apollo"
    upstream_url: str | None = None
    upstream_api_key: str | None = None
    upstream_model: str = ""
    upstream_first_byte_timeout: float = 30.0
    upstream_idle_timeout: float = 60.0
    upstream_max_event_bytes: int = 16 * 1024 * 1024
    worker_concurrency: int = 16
    sql_connections: int = 20  # the gateway's SQL pool; a worker's follows WORKER_CONCURRENCY (workers/runner.py)
    worker_max_loop_lag: float = 0.05  # seconds; past it a worker takes no new job (workers/admission.py)
    job_claim_idle_seconds: float = 30.0
    shutdown_grace_seconds: float = 30.0
    generation_max_seconds: float = 1800.0
    tool_timeout_seconds: float = 30.0
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None
    port: int = 8000
    host: str = "0.0.0.0"
    socket_queue_bytes: int = 1024 * 1024
    socket_idle_seconds: float = 60.0
    presence_ttl_seconds: float = 45.0  # a tab silent this long leaves presence (relay/presence_tracker.py)
    presence_interval_seconds: float = 10.0
    request_read_timeout_seconds: float = 10.0
    max_frame_bytes: int = 1024 * 1024
    max_message_chars: int = 100_000
    log_maxlen: int = 2000
    # What Redis keeps of a session, and for how long (docs/protocol.md, "What Redis keeps")
    history_ttl_seconds: int = 600
    log_max_bytes: int = 1024 * 1024
    context_max_bytes: int = 256 * 1024
    tenant_allowed_hosts: str = DEFAULT_ALLOWED_HOSTS
    tenant_keys_required: bool = False
    credentials_key: str | None = None
    # per-user limits, shared by every gateway (relay/limits.py)
    user_requests_per_second: float = 10.0
    user_burst: int = 50
    document_pushes_per_second: float = 100.0
    document_burst: int = 500
    max_sockets_per_user: int = 50
    cors_allowed_origins: tuple[str, ...] = ()  # browsers of these origins may call the HTTP API

    @cached_property
    def outbound_policy(self) -> OutboundPolicy:
        return OutboundPolicy.parse(self.tenant_allowed_hosts)

    @cached_property
    def credentials(self) -> Credentials:
        return Credentials(self.credentials_key)

    @property
    def operator(self) -> Operator:
        return Operator(
            self.upstream_provider, self.upstream_url, self.upstream_api_key, self.upstream_model,
            self.tenant_keys_required,
        )  # fmt: skip

    @property
    def memory_broker(self) -> bool:
        return self.redis_url is None

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _origins(value: str) -> tuple[str, ...]:
    """`CORS_ALLOWED_ORIGINS`: comma-separated origins (`scheme://host[:port]`), as browsers send them."""
    origins = tuple(origin.strip().rstrip("/").lower() for origin in value.split(",") if origin.strip())
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or not rest or any(c in rest for c in "/?#*@ "):
            raise ConfigError(
                f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin like https://app.example.com (no path, no wildcard)"
            )
    return origins


def from_env(env: Mapping[str, str] | None = None, *, dev: bool = False) -> Settings:
    """Read settings; `dev` allows the embedded defaults (in-memory broker, no secret)."""
    env = os.environ if env is None else env
    redis_url = env.get("REDIS_URL") or None
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}")
    if redis_url is None and not dev:
        raise ConfigError("REDIS_URL is required (only `streamrelay dev` runs without Redis)")
    secret = env.get("RELAY_SECRET") or None
    if secret is None and not dev:
        raise ConfigError("RELAY_SECRET is required (the HMAC key that signs tokens)")
    provider = env.get("UPSTREAM_PROVIDER", "demo" if dev else "apollo")
    if provider not in PROVIDERS:
        raise ConfigError(f"UPSTREAM_PROVIDER must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    upstream_url = env.get("UPSTREAM_URL") or None  # required by workers only: checked where they start
    database_url = env.get("DATABASE_URL") or Settings.database_url
    if "+" not in database_url.split("://", 1)[0]:
        raise ConfigError(
            "DATABASE_URL must name an async driver, e.g. postgresql+asyncpg://… or sqlite+aiosqlite:///…"
        )
    allowed_hosts = env.get("TENANT_ALLOWED_HOSTS", DEFAULT_ALLOWED_HOSTS)
    try:
        OutboundPolicy.parse(allowed_hosts)
    except ValueError as exc:
        raise ConfigError(f"TENANT_ALLOWED_HOSTS: {exc}") from None
    credentials_key = env.get("CREDENTIALS_KEY") or None
    try:
        Credentials(credentials_key)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return Settings(
        cors_allowed_origins=_origins(env.get("CORS_ALLOWED_ORIGINS", "")),
        redis_url=redis_url,
        redis_cluster=_flag(env, "REDIS_CLUSTER"),
        database_url=database_url,
        secret=secret,
        upstream_provider=provider,
        upstream_url=upstream_url,
        upstream_api_key=env.get("UPSTREAM_API_KEY") or None,
        upstream_model=env.get("UPSTREAM_MODEL", ""),
        upstream_first_byte_timeout=_float(env, "UPSTREAM_FIRST_BYTE_TIMEOUT", 30.0),
        upstream_idle_timeout=_float(env, "UPSTREAM_IDLE_TIMEOUT", 60.0),
        upstream_max_event_bytes=_int(env, "UPSTREAM_MAX_EVENT_BYTES", 16 * 1024 * 1024),
        worker_concurrency=_int(env, "WORKER_CONCURRENCY", 16),
        sql_connections=_int(env, "SQL_CONNECTIONS", 20),
        worker_max_loop_lag=_int(env, "WORKER_MAX_LOOP_LAG_MS", 50) / 1000,
        job_claim_idle_seconds=_float(env, "JOB_CLAIM_IDLE_SECONDS", 30.0),
        shutdown_grace_seconds=_float(env, "SHUTDOWN_GRACE_SECONDS", 30.0),
        generation_max_seconds=_float(env, "GENERATION_MAX_SECONDS", 1800.0),
        tool_timeout_seconds=_float(env, "TOOL_TIMEOUT_SECONDS", 30.0),
        metrics_port=_int(env, "METRICS_PORT", 0, minimum=0) or None,
        metrics_host=env.get("METRICS_HOST") or "127.0.0.1",
        metrics_token=env.get("METRICS_TOKEN") or None,
        port=_int(env, "PORT", 8000, minimum=0),
        host=env.get("HOST") or ("127.0.0.1" if dev else "0.0.0.0"),
        socket_queue_bytes=_int(env, "SOCKET_QUEUE_BYTES", 1024 * 1024),
        request_read_timeout_seconds=_float(env, "REQUEST_READ_TIMEOUT_SECONDS", 10.0),
        log_maxlen=_int(env, "LOG_MAXLEN", 2000),
        history_ttl_seconds=_int(env, "HISTORY_TTL_SECONDS", 600),
        log_max_bytes=_int(env, "LOG_MAX_BYTES", 1024 * 1024, minimum=64 * 1024),
        context_max_bytes=_int(env, "CONTEXT_MAX_BYTES", 256 * 1024),
        tenant_allowed_hosts=allowed_hosts,
        tenant_keys_required=_flag(env, "TENANT_KEYS_REQUIRED"),
        credentials_key=credentials_key,
        user_requests_per_second=_float(env, "USER_REQUESTS_PER_SECOND", 10.0),
        user_burst=_int(env, "USER_BURST", 50),
        document_pushes_per_second=_float(env, "DOCUMENT_PUSHES_PER_SECOND", 100.0),
        document_burst=_int(env, "DOCUMENT_BURST", 500),
        max_sockets_per_user=_int(env, "MAX_SOCKETS_PER_USER", 50),
    )
