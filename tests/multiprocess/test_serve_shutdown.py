"""`streamrelay serve` on SIGTERM: open streams do not hold the process past SHUTDOWN_GRACE_SECONDS."""

from __future__ import annotations

import asyncio
import signal

import httpx

from .processes import Deployment, auth, new_session


async def test_serve_exits_after_its_grace_period_although_an_event_stream_stays_open(
    deployment: Deployment,
) -> None:
    url, gateway = await deployment.gateway(SHUTDOWN_GRACE_SECONDS="1")
    session_id = await new_session(url)
    async with (
        httpx.AsyncClient(base_url=url, timeout=None) as http,
        http.stream("GET", f"/api/sessions/{session_id}/events", headers=auth()) as events,
    ):
        assert events.status_code == 200
        lines = events.aiter_lines()
        assert (await anext(lines)).startswith("event: joined")
        gateway.send_signal(signal.SIGTERM)
        # the stream is never ended by its client: only the grace period ends the process
        # (uvicorn re-raises the signal once it has shut down)
        assert await asyncio.wait_for(gateway.wait(), 30) in (0, -signal.SIGTERM)
