"""The tool webhook caller against a real local receiver that verifies every signature."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schema.outbound import OutboundPolicy, guarded_client
from tests.services import free_port
from workers.providers.tool_calls import PREVIEW_CHARS, ToolCall
from workers.tools.webhook import Caller, ToolWebhook, signature

from .fakes import Webhook, verified

SECRET = "whsec-test-0123456789"
CALLER = Caller(session_id="s-1", message_id="m-1", tenant="acme", user_id="alice")


@pytest.fixture
async def receiver() -> AsyncIterator[Webhook]:
    async with Webhook(SECRET) as webhook:
        yield webhook


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def caller(receiver: Webhook, client: httpx.AsyncClient, **options: float) -> ToolWebhook:
    return ToolWebhook(receiver.url, SECRET, client, **options)


async def test_a_call_is_one_signed_post_the_receiver_verifies(receiver: Webhook, client: httpx.AsyncClient) -> None:
    before = int(time.time())
    result = await caller(receiver, client).call(ToolCall("call_1", "get_order_status", {"order_id": "A1"}), CALLER)
    assert result.status == "finished", result
    assert result.content == '{"order_id":"A1","status":"shipped"}'
    assert result.preview == result.content and result.error is None
    [delivery] = receiver.deliveries
    assert delivery.body == {
        "call_id": "call_1", "name": "get_order_status", "arguments": {"order_id": "A1"},
        "session_id": "s-1", "message_id": "m-1", "tenant": "acme", "user_id": "alice",
    }  # fmt: skip
    assert before <= int(delivery.headers["x-streamrelay-timestamp"]) <= int(time.time())
    assert delivery.headers["x-streamrelay-signature"].startswith("sha256=")
    assert delivery.headers["accept-encoding"] == "identity"


async def test_a_wrong_secret_fails_verification(receiver: Webhook, client: httpx.AsyncClient) -> None:
    result = await ToolWebhook(receiver.url, "not-the-secret", client).call(ToolCall("c", "get_weather", {}), CALLER)
    assert result.status == "failed"
    assert result.error == "The tool webhook answered HTTP 401."
    assert receiver.deliveries == []
    assert not verified(SECRET, {"x-streamrelay-timestamp": "1", "x-streamrelay-signature": "sha256=00"}, b"{}")


async def test_an_error_answer_is_a_failed_call_the_model_is_told(receiver: Webhook, client: httpx.AsyncClient) -> None:
    result = await caller(receiver, client).call(ToolCall("c", "refuses", {}), CALLER)
    assert (result.status, result.error) == ("failed", "Order not found")
    assert result.content == "The tool call failed: Order not found"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("broken", "The tool webhook answered HTTP 500."),
        ("garbled", "The tool webhook answered with invalid JSON."),
        ("unheard_of", "The tool webhook answered HTTP 404."),
    ],
)
async def test_a_bad_answer_is_a_failed_call(
    receiver: Webhook, client: httpx.AsyncClient, name: str, error: str
) -> None:
    result = await caller(receiver, client).call(ToolCall("c", name, {}), CALLER)
    assert (result.status, result.error) == ("failed", error)
    assert "stack trace" not in result.content


async def test_a_webhook_that_never_answers_times_out_and_is_hung_up_on(
    receiver: Webhook, client: httpx.AsyncClient
) -> None:
    result = await caller(receiver, client, timeout=0.5).call(ToolCall("c", "slow", {}), CALLER)
    assert (result.status, result.error) == ("failed", "The tool webhook did not answer within 0.5 seconds.")
    await asyncio.wait_for((await receiver.delivery("slow")).hung_up.wait(), 10)


async def test_an_answer_over_the_limit_fails_while_it_streams(receiver: Webhook, client: httpx.AsyncClient) -> None:
    """The receiver never ends its body: only a read bounded while streaming gets out (not by the timeout)."""
    result = await caller(receiver, client, timeout=60).call(ToolCall("c", "endless", {}), CALLER)
    assert (result.status, result.error) == ("failed", "The tool webhook answered with more than 1048576 bytes.")
    await asyncio.wait_for((await receiver.delivery("endless")).hung_up.wait(), 10)


async def test_an_unreachable_webhook_is_a_failed_call(client: httpx.AsyncClient) -> None:
    webhook = ToolWebhook(f"http://127.0.0.1:{free_port()}/tools", SECRET, client)
    result = await webhook.call(ToolCall("c", "get_weather", {}), CALLER)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("Could not reach the tool webhook")


async def test_the_preview_is_cut_to_500_characters_but_the_model_gets_everything(
    receiver: Webhook, client: httpx.AsyncClient
) -> None:
    result = await caller(receiver, client).call(ToolCall("c", "long_report", {}), CALLER)
    assert result.content == "x" * 2000
    assert result.preview is not None and len(result.preview) == PREVIEW_CHARS and result.preview.endswith("…")


async def test_cancelling_a_call_hangs_up_on_the_webhook(receiver: Webhook, client: httpx.AsyncClient) -> None:
    call = asyncio.create_task(caller(receiver, client).call(ToolCall("c", "slow", {}), CALLER))
    delivery = await receiver.delivery("slow")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.wait_for(delivery.hung_up.wait(), 10)


async def test_a_webhook_outside_the_allowed_hosts_is_refused_before_connecting(receiver: Webhook) -> None:
    async with guarded_client(OutboundPolicy.parse("api.openai.com")) as guarded:
        result = await ToolWebhook(receiver.url, SECRET, guarded).call(ToolCall("c", "get_weather", {}), CALLER)
    assert (result.status, result.error) == ("failed", "The tool webhook address is not allowed.")
    assert receiver.deliveries == []


async def test_a_wildcard_host_resolving_to_a_private_address_is_refused_at_connect_time(receiver: Webhook) -> None:
    port = receiver.url.split(":")[2].split("/")[0]

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # what a hostile DNS answer would say

    policy = OutboundPolicy.parse(f"*.example.com:{port}")
    async with guarded_client(policy, resolver=rebinding) as guarded:
        webhook = ToolWebhook(f"https://tools.example.com:{port}/tools", SECRET, guarded)
        result = await webhook.call(ToolCall("c", "get_weather", {}), CALLER)
    assert (result.status, result.error) == ("failed", "The tool webhook address is not allowed.")
    assert receiver.deliveries == []


def readme_receiver() -> dict[str, Any]:
    """The webhook receiver example of the README, run as written."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Tools") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n", section.index("```python"))]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


async def test_the_readme_receiver_example_verifies_a_real_call(receiver: Webhook, client: httpx.AsyncClient) -> None:
    await caller(receiver, client).call(ToolCall("call_7", "get_weather", {"city": "Lyon"}), CALLER)
    [delivery] = receiver.deliveries
    verify = readme_receiver()["verify"]
    headers = httpx.Headers(delivery.headers)
    assert verify(SECRET, headers, delivery.raw)["arguments"] == {"city": "Lyon"}
    with pytest.raises(ValueError, match="bad signature"):
        verify(SECRET, headers, delivery.raw.replace(b"Lyon", b"Nice"))
    with pytest.raises(ValueError, match="stale timestamp"):
        stale = str(int(headers["x-streamrelay-timestamp"]) - 3600)
        forged = signature(SECRET, stale, delivery.raw)
        verify(SECRET, {"X-Streamrelay-Timestamp": stale, "X-Streamrelay-Signature": forged}, delivery.raw)
