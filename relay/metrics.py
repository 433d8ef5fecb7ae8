"""Prometheus metrics, shared by the gateway and the workers of one process.

Counted where it is cheap: once per event per process, never per socket write.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OPEN_SOCKETS = Gauge("streamrelay_open_sockets", "WebSocket connections open on this gateway")
JOINED_TOPICS = Gauge("streamrelay_joined_topics", "Session topics this gateway subscribes to")
EVENTS_IN = Counter("streamrelay_events_in_total", "Events received from the broker by this gateway")
EVENTS_OUT = Counter("streamrelay_events_out_total", "Event frames queued to clients by this gateway")
SLOW_SOCKET_CLOSES = Counter(
    "streamrelay_slow_socket_closes_total", "Connections closed because their outgoing queue passed its bound"
)
PUBLISH_SECONDS = Histogram(
    "streamrelay_publish_seconds",
    "Time to store and publish one event",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
FIRST_TOKEN_SECONDS = Histogram(
    "streamrelay_upstream_first_token_seconds",
    "From the upstream request to its first text chunk",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
GENERATIONS = Counter("streamrelay_generations_total", "Generations finished, by final status", ["status"])
JOBS_WAITING = Gauge("streamrelay_jobs_waiting", "Generation jobs not yet taken by a worker")
JOBS_PENDING = Gauge("streamrelay_jobs_pending", "Generation jobs taken by a worker and not yet finished")
