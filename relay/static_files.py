"""The web app's files (relay/static, built from clients/web): served with revalidation.

The bundle keeps its name across releases (app.js, app.css), so a browser must
check its copy (ETag / Last-Modified, a 304 when unchanged) before each use
rather than run last release's script against this release's gateway.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).with_name("static")
REVALIDATE = {"Cache-Control": "no-cache"}


class WebApp(StaticFiles):
    def __init__(self) -> None:
        super().__init__(directory=STATIC)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(REVALIDATE)
        return response


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=REVALIDATE)
