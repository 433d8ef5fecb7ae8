"""Every response carries the headers that keep the page from being turned against its reader."""

from __future__ import annotations

import re

import httpx
import pytest

from relay.app import create_app
from relay.security_headers import content_security_policy
from relay.settings import Settings


def client(tmp_path) -> httpx.AsyncClient:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db", secret="s"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay.example:8000")


async def test_the_page_allows_only_its_own_origin_and_styles_only_its_editors_by_a_fresh_nonce(tmp_path) -> None:
    async with client(tmp_path) as http:
        first, second = await http.get("/"), await http.get("/")
    policy = first.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'", "no inline script, no eval, nothing from elsewhere"
    assert directives["img-src"] == "'self' data: blob:"
    assert directives["font-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws://relay.example:8000 wss://relay.example:8000"
    assert directives["frame-ancestors"] == "'none'"
    nonce = re.search(r'<meta name="csp-nonce" content="([^"]+)">', first.text).group(1)
    assert directives["style-src"] == f"'self' 'nonce-{nonce}'"
    assert directives["style-src-attr"] == "'unsafe-inline'"  # attributes only: the editor's cursor colours
    assert nonce not in second.text, "a nonce is used once"
    assert "<script>" not in first.text and 'type="module" src="/static/app.js"' in first.text
    for response in (first, second):
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/healthz", "/static/app.js", "/api/sessions", "/nowhere"])
async def test_every_response_carries_the_headers(tmp_path, path: str) -> None:
    async with client(tmp_path) as http:
        response = await http.get(path)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("host", ["evil.example; script-src *", "a b", "", None])
def test_a_host_header_that_is_not_a_host_adds_nothing_to_the_policy(host: str | None) -> None:
    policy = content_security_policy(host)
    assert "connect-src 'self';" in policy and "evil" not in policy
