"""The gateway's Prometheus metrics (the workers' are in `workers.metrics`).

Counted where it is cheap: once per event per process, never per socket write.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OPEN_SOCKETS = Gauge("streamrelay_open_sockets", "WebSocket connections open on this gateway")
JOINED_TOPICS = Gauge("streamrelay_joined_topics", "Session topics this gateway subscribes to")
EVENTS_IN = Counter("streamrelay_events_in_total", "Events received from the broker by this gateway")
EVENTS_OUT = Counter("streamrelay_events_out_total", "Event frames queued to clients by this gateway")
SLOW_SOCKET_CLOSES = Counter(
    "streamrelay_slow_socket_closes_total", "Connections closed because their outgoing queue passed its bound"
)
JOBS_WAITING = Gauge("streamrelay_jobs_waiting", "Generation jobs not yet taken by a worker")
JOBS_PENDING = Gauge("streamrelay_jobs_pending", "Generation jobs taken by a worker and not yet finished")
