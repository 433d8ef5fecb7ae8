"""The tool loop: a provider whose model may call the tenant's tools between rounds.

Each round streams as usual; a round that ends asking for tools has them run
(concurrently, through the webhook) and the results go back to the model in a
new request, up to `max_rounds` rounds of calls. The request after the last
allowed round forbids tools, so the model answers with what it has. Usage adds
up over every round.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from typing import Any

from workers.providers.tool_calls import FAILED, STARTED, ToolResult, ToolRound, ToolStep, ToolUse, add_usage, failed
from workers.providers.vocabulary import Chunk, Complete, GenerationRequest, Provider, ProviderEvent, Status, Usage
from workers.tools.executor import ToolExecutor
from workers.tools.webhook import Caller, ToolWebhook

ROUND_BREAK = "\n\n"


class ToolLoop:
    def __init__(
        self, provider: Provider, webhook: ToolWebhook, definitions: list[dict[str, Any]], max_rounds: int
    ) -> None:
        self.provider = provider
        self.webhook = webhook
        self.definitions = definitions
        self.max_rounds = max_rounds

    async def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent | ToolStep]:
        caller = Caller(request.meta["session_id"], request.meta["message_id"], request.tenant, request.user_id)
        executor = ToolExecutor(partial(self.webhook.call, caller=caller), [d["name"] for d in self.definitions])
        rounds: list[ToolRound] = []
        text: list[str] = []
        usage: dict[str, Any] = {}
        while True:
            last = len(rounds) >= self.max_rounds
            ask = replace(request, tools=self.definitions, tool_rounds=list(rounds), tool_choice_none=last)
            use: ToolUse | None = None
            fresh = True  # no text yet in this round
            async with contextlib.aclosing(self.provider.stream(ask)) as upstream:
                async for event in upstream:
                    if isinstance(event, ToolUse):
                        use = event
                        break
                    if isinstance(event, Complete):
                        yield replace(event, response="".join(text), usage=add_usage(usage, event.usage))
                        return
                    if isinstance(event, Chunk) and event.content:
                        if fresh and text and not text[-1].endswith("\n"):
                            text.append(ROUND_BREAK)
                            yield Chunk(ROUND_BREAK)
                        fresh = False
                        text.append(event.content)
                    yield event
            if use is None:
                return  # the provider ended without a final event: the generation says so
            usage = add_usage(usage, use.usage)
            yield Usage(usage)
            if last:
                rounds_allowed = f"{self.max_rounds} round" + ("s" if self.max_rounds != 1 else "")
                refusal = f"The assistant may call tools in at most {rounds_allowed} per answer."
                for call in use.calls:
                    yield ToolStep(call, STARTED, len(rounds) + 1)
                    yield ToolStep(call, FAILED, len(rounds) + 1, failed(call, refusal))
                yield Complete(response="".join(text), usage=usage)
                return
            results: list[ToolResult] = []
            async with contextlib.aclosing(executor.run(use.calls, results)) as steps:
                async for step in steps:
                    yield replace(step, round=len(rounds) + 1)
                    if step.status == STARTED:
                        yield Status(f"Calling {step.call.name}…")
            rounds.append(ToolRound(use.text, use.calls, results))
