"""`create_broker(settings)`: Redis when `REDIS_URL` is set, else the in-memory broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.settings import Settings

    from .base import Broker


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url is None:
        from .memory import MemoryBroker

        return MemoryBroker(settings.log_maxlen, settings.history_ttl_seconds, settings.log_max_bytes)
    from .redis import RedisBroker

    return RedisBroker(
        settings.redis_url,
        log_maxlen=settings.log_maxlen,
        ttl_seconds=settings.history_ttl_seconds,
        log_max_bytes=settings.log_max_bytes,
        cluster=settings.redis_cluster,
    )
