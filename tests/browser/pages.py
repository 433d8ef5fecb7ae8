"""A page of the test's own, bundled by esbuild from a JSX entry and served from another origin than the gateway."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from relay.server import EmbeddedServer

from ..node import node_for

PAGE = "<!doctype html><html><body><div id=root></div><script type=module src=/app.js></script></body></html>"


def bundle(package: Path, entry: str, folder: Path) -> bytes:
    """`entry` (relative to `package`) with everything it imports, bundled by the package's pinned esbuild."""
    node_for(package)
    out = folder / "app.js"
    subprocess.run(
        [str(package / "node_modules" / ".bin" / "esbuild"), entry, "--bundle", "--format=esm", "--jsx=automatic",
         "--define:process.env.NODE_ENV=\"production\"", f"--outfile={out}"],
        cwd=package, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out.read_bytes()


@asynccontextmanager
async def serve(script: bytes) -> AsyncIterator[str]:
    """Serve the page and its script; yields its origin (localhost, where gateways are 127.0.0.1: another origin)."""

    async def index(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def app_js(request: Request) -> Response:
        return Response(script, media_type="text/javascript")

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [Route("/", index), Route("/app.js", app_js), Route("/favicon.ico", no_icon)]
    server = EmbeddedServer(Starlette(routes=routes), "127.0.0.1", 0, lifespan="off", log_level="warning")
    await server.start()
    try:
        yield server.url.replace("127.0.0.1", "localhost")
    finally:
        await server.stop()
