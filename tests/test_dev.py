"""`streamrelay dev`, the README's first command, run as a user runs it: one process, one answer streamed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt

from .phoenix import PhoenixClient

STREAMRELAY = Path(sys.executable).with_name("streamrelay")  # the console script `pip install` made
OPEN_LINE = re.compile(r"open\s+(http://\S+)")
SETTINGS = {"REDIS_URL", "DATABASE_URL", "RELAY_SECRET", "UPSTREAM_PROVIDER", "UPSTREAM_URL", "PORT", "HOST"}


async def test_streamrelay_dev_streams_an_answer_to_a_tab(tmp_path: Path) -> None:
    """It logs quietly, prints two people's links (the app's URL last), and streams an answer."""
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    dev = await asyncio.create_subprocess_exec(
        str(STREAMRELAY), "dev", "--port", "0",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert dev.stdout is not None
        printed = []
        async with asyncio.timeout(60):
            while True:
                line = await dev.stdout.readline()
                assert line, "streamrelay dev ended its output before printing its URL"
                printed.append(line.decode())
                if found := OPEN_LINE.search(line.decode()):
                    break
        noise = [line for line in printed if re.search(r"INFO|WARNING|alembic|Uvicorn running|pip", line)]
        assert noise == [], f"start-up chatter before the URL: {noise}"
        links = [urlsplit(word) for line in printed for word in line.split() if word.startswith("http://")]
        people = [verify_unsigned(parse_qs(link.query)["token"][0]) for link in links]
        assert [(p["sub"], p["role"]) for p in people] == [("demo-colleague", "member"), ("demo-user", "admin")]
        assert all(p["name"] for p in people), "each link names its person"
        page = urlsplit(found.group(1))
        query = parse_qs(page.query)
        session, token = query["session"][0], query["token"][0]
        tab = await PhoenixClient.connect(f"http://{page.netloc}", token)
        try:
            topic = f"ai_session:{session}"
            joined = await tab.join(topic)
            assert joined["status"] == "ok", joined
            asked = await tab.push(topic, "new_message", {"content": "Hello from the test"})
            assert asked["status"] == "ok", asked
            seen = await tab.events_until(topic, "new_message", within=60)
        finally:
            await tab.close()
        chunks = [payload["content"] for event, payload in seen if event == "streaming_chunk"]
        final = seen[-1][1]["message"]
        assert chunks, seen
        assert (final["role"], final["status"], final["content"]) == ("assistant", "success", "".join(chunks))
    finally:
        if dev.returncode is None:
            dev.send_signal(signal.SIGINT)  # Ctrl-C, as the page says
        assert await asyncio.wait_for(dev.wait(), 30) == 0


def verify_unsigned(token: str) -> dict[str, str]:
    """The claims of a token `streamrelay dev` signed with a secret of its own."""
    return jwt.decode(token, options={"verify_signature": False})
