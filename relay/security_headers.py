"""Headers that keep the web app from being turned against its reader, on every HTTP response.

The page loads scripts, styles, images, fonts and connections only from the
gateway's own origin (images also `data:`/`blob:`; connections also the same
host's `ws:`/`wss:`, which not every browser counts as 'self'). It runs no
inline script, and no inline <style> element but the editors' (let in by a
nonce the page is served with, `relay.static_files`). Style attributes are let
in (`style-src-attr`): the shared editor colours each person's cursor and
selection with one (y-codemirror.next); answers cannot use them, since the
markdown sanitiser drops every `style` attribute, and whatever a style could
load is held to the page's own origin by `img-src` and `font-src`. It may not be framed,
sends no `Referer` (its links would carry the chat's address elsewhere) and is
never sniffed into another type.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'{styles}; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; "
    "connect-src 'self'{sockets}; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FIXED = [
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers that predate it
]


def content_security_policy(host: str | None, style_nonce: str | None = None) -> str:
    """The policy for a page served as `host` (the request's Host header; ignored unless it is a host);
    `style_nonce` lets in the one <style> element the page adds (the editor's)."""
    sockets = f" ws://{host} wss://{host}" if host and HOST.fullmatch(host) else ""
    styles = f" 'nonce-{style_nonce}'" if style_nonce else ""
    return POLICY.format(sockets=sockets, styles=styles)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = content_security_policy(Headers(scope=scope).get("host")).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"content-security-policy" for name, _ in headers):  # the page sets its own
                    headers.append((b"content-security-policy", policy))
                message["headers"] = [*headers, *FIXED]
            await send(message)

        await self.app(scope, receive, send_with_headers)
