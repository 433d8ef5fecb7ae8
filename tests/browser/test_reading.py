"""Reading a chat in Chromium: where it opens, when it follows the stream, and the way back to the newest message."""

from __future__ import annotations

import pytest

from .tabs import Tabs
from .test_web_app import QUESTION, Systems, open_chat

pytestmark = pytest.mark.asyncio(loop_scope="module")

# How far the message list is from its end (0: the newest message is in view at the bottom).
FROM_BOTTOM = "(() => { const l = document.querySelector('[data-testid=messages]');"
FROM_BOTTOM += " return l.scrollHeight - l.scrollTop - l.clientHeight; })()"


async def test_a_chat_opens_at_its_newest_message_and_follows_the_stream_only_while_the_reader_is_at_the_bottom(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems(chunk_delay=0.04)
    session_id = await system.new_session()
    for n in range(4):
        await system.ask(session_id, f"Question {n}: how do I load records?")
    tab = await open_chat(tabs, system, session_id, "alice")
    await tab.wait_for("document.querySelectorAll('[data-testid=message]').length === 8")
    height = await tab.page.evaluate("document.querySelector('[data-testid=messages]').scrollHeight")
    assert height > 2000, "the history is long enough to scroll"
    await tab.wait_for(f"{FROM_BOTTOM} < 2", within=5)
    assert await tab.by("jump-latest").is_hidden()

    await tab.ask(QUESTION)
    await tab.wait_streaming(chars=200)
    assert await tab.page.evaluate(FROM_BOTTOM) < 2, "the stream is followed while the reader is at the bottom"

    await tab.page.mouse.move(400, 300)
    await tab.page.mouse.wheel(0, -1500)  # the reader scrolls up to read an earlier answer
    await tab.wait_for(f"{FROM_BOTTOM} > 1000")
    top = await tab.page.evaluate("document.querySelector('[data-testid=messages]').scrollTop")
    await tab.by("jump-latest").wait_for()
    await tab.wait_streaming(chars=600)
    assert await tab.page.evaluate("document.querySelector('[data-testid=messages]').scrollTop") == top, (
        "the page stays where the reader is"
    )
    await tab.by("jump-latest").click()
    await tab.wait_for(f"{FROM_BOTTOM} < 2")
    await tab.by("jump-latest").wait_for(state="hidden")
    await tab.wait_answer("success", count=5)
    assert await tab.page.evaluate(FROM_BOTTOM) < 2, "followed again to the end of the answer"
    tab.assert_healthy()
