"""The workers' Prometheus metrics, served on `METRICS_PORT` (or the gateway's `/metrics` in `streamrelay dev`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
