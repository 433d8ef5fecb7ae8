"""The web app's files (relay/static, built from clients/web): served with revalidation.

The bundle keeps its name across releases (app.js, app.css), so a browser must
check its copy (ETag / Last-Modified, a 304 when unchanged) before each use
rather than run last release's script against this release's gateway.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from .security_headers import content_security_policy

STATIC = Path(__file__).with_name("static")
REVALIDATE = {"Cache-Control": "no-cache"}


class WebApp(StaticFiles):
    def __init__(self) -> None:
        super().__init__(directory=STATIC)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(REVALIDATE)
        return response


NONCE_PLACEHOLDER = '<meta name="csp-nonce" content="">'


async def index(request: Request) -> Response:
    """The page, with a fresh nonce for the one inline thing it allows: the editor's <style> element."""
    nonce = secrets.token_urlsafe(16)
    page = (STATIC / "index.html").read_text().replace(NONCE_PLACEHOLDER, f'<meta name="csp-nonce" content="{nonce}">')
    policy = content_security_policy(request.headers.get("host"), style_nonce=nonce)
    return HTMLResponse(page, headers={**REVALIDATE, "Content-Security-Policy": policy})
