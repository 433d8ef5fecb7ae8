"""What a new user of `streamrelay dev` meets: suggestions on an empty chat that show what the assistant can do
(a tool step, a workflow, code edits), and Settings that name the provider actually in use."""

from __future__ import annotations

import pytest

from relay.demo_script import SAMPLE_JOB_CODE, WORKFLOW_YAML

from .tabs import Tabs
from .test_web_app import JOINED, Systems, link, open_chat

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_suggestions_of_an_empty_chat_show_a_tool_step_a_workflow_and_code_edits(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session(context={"job_code": SAMPLE_JOB_CODE})
    tab = await open_chat(tabs, system, session_id, "alice")
    chips = tab.by("suggestion")
    assert await chips.count() == 3

    await chips.filter(has_text="Search the docs").click()
    await tab.wait_answer("success")
    assert await tab.by("tool-step").filter(has_text="search_docs").count() == 1
    assert await tab.page.locator("[data-testid=message-content] table").count() == 1
    assert await chips.count() == 0, "suggestions only on an empty chat"

    await tab.by("new-session").click()
    await tab.wait_for(JOINED)
    await tab.by("suggestion").filter(has_text="Draft a workflow").click()
    await tab.wait_answer("success")
    await tab.page.locator("[data-testid=change][data-applied=true]").wait_for()
    assert (await tab.editor("editor-yaml")).rstrip() == WORKFLOW_YAML.rstrip()
    answer = (await tab.messages())[-1]["text"]
    assert "pane on the right" in answer and "above" not in answer, answer

    tab2 = await open_chat(tabs, system, session_id, "bob")
    await tab2.ask("Fix my job code: the next step gets no data")
    await tab2.wait_answer("success", count=2)
    await tab2.by("code-diff").wait_for()
    await tab2.by("accept-edits").click()
    await tab2.wait_for("!document.querySelector('[data-testid=code-diff]')")
    assert "return state;" in await tab2.editor("editor-code")
    tab.assert_healthy()
    tab2.assert_healthy()


async def test_settings_name_the_provider_in_use_with_fitting_examples(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    session_id = await system.new_session()
    admin = await tabs.open(link(system.url, system, session_id, user="root", role="admin"), "root")
    await admin.wait_for(JOINED)
    await admin.by("settings").click()
    await admin.by("settings-tab-provider").click()
    select = admin.by("provider-provider")
    await select.wait_for()
    shown = await select.evaluate("(s) => s.selectedOptions[0].textContent")
    provider = system.settings.upstream_provider
    assert shown.startswith("The service's own") and provider.lower() in shown.lower(), shown
    assert await admin.by("provider-deployment").is_hidden(), "Azure's fields only for Azure"
    assert "openai.com" not in (await admin.by("provider-url").get_attribute("placeholder") or "")

    await select.select_option("anthropic")
    assert "anthropic.com" in await admin.by("provider-url").get_attribute("placeholder")
    await select.select_option("azure_openai")
    assert await admin.by("provider-deployment").is_visible()
    admin.assert_healthy()
