"""The web app's committed bundle (relay/static) is exactly what `make web` builds.

`make dev` serves relay/static without Node.js, so the bundle is committed; this
test builds clients/web (with clients/js, as their lockfiles pin) into a
temporary folder and compares every file byte for byte.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

from .node import node_for
from .system import Backend, System

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "relay" / "static"
WEB = ROOT / "clients" / "web"


def test_the_committed_web_bundle_is_what_a_fresh_build_makes(tmp_path: Path) -> None:
    node_for(ROOT / "clients" / "js")  # the client's own dependencies (phoenix, marked, …) are bundled from there
    node = node_for(WEB)
    done = subprocess.run([node, "build.mjs", str(tmp_path)], cwd=WEB, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    built = sorted(path.name for path in tmp_path.iterdir())
    assert built == sorted(path.name for path in STATIC.iterdir()), "relay/static holds exactly the build's files"
    stale = [name for name in built if (tmp_path / name).read_bytes() != (STATIC / name).read_bytes()]
    assert stale == [], f"relay/static/{stale} differ from a fresh build of clients/web: run `make web` and commit"


def test_the_bundle_stays_within_its_gzip_budget() -> None:
    """The bundle does not grow without a reason: clients/web/size-budget.json bounds each file, gzipped."""
    budget = json.loads((WEB / "size-budget.json").read_text())
    for name in ("app.js", "app.css"):
        gzipped = len(gzip.compress((STATIC / name).read_bytes(), compresslevel=9, mtime=0))
        print(f"{name}: {gzipped:,} bytes gzipped (budget {budget[name]:,})")
        assert gzipped <= budget[name], f"{name} grew to {gzipped:,} bytes gzipped, over its budget of {budget[name]:,}"


async def test_the_gateway_serves_the_page_and_its_bundle(tmp_path: Path) -> None:
    backend = Backend("memory-sqlite", None, f"sqlite+aiosqlite:///{tmp_path}/streamrelay.db")
    async with System(backend) as system:
        page = await system.http.get("/?session=s&token=t")
        assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
        assert page.headers["cache-control"] == "no-cache", "a new release's page is not served from a stale cache"
        for name, kind in (("app.js", "javascript"), ("app.css", "text/css")):
            served = await system.http.get(f"/static/{name}")
            assert served.status_code == 200 and kind in served.headers["content-type"], name
            assert served.content == (STATIC / name).read_bytes()
            assert served.headers["cache-control"] == "no-cache", name
            again = await system.http.get(f"/static/{name}", headers={"If-None-Match": served.headers["etag"]})
            assert again.status_code == 304, f"{name}: an unchanged file is revalidated, not sent again"
        assert (await system.http.get("/static/../app.py")).status_code == 404
