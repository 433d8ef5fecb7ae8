"""Run one round's tool calls at once, announcing each as it starts and as it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection

from workers.providers.tool_calls import FAILED, FINISHED, STARTED, ToolCall, ToolResult, ToolStep, failed

logger = logging.getLogger(__name__)

CallTool = Callable[[ToolCall], Awaitable[ToolResult]]
INVALID_ARGUMENTS = "The assistant sent arguments that are not a JSON object."


class ToolExecutor:
    """`call_tool` runs one call (the webhook); calls to tools the tenant did not define never reach it."""

    def __init__(self, call_tool: CallTool, names: Collection[str]) -> None:
        self.call_tool = call_tool
        self.names = frozenset(names)

    async def run(self, calls: list[ToolCall], results: list[ToolResult]) -> AsyncIterator[ToolStep]:
        """Yield every call's `started` step, then each one's end as it comes; `results` ends in call order.

        Closing the iterator early (a stop) cancels the calls still running.
        """
        for call in calls:
            yield ToolStep(call, STARTED)
        ended: dict[int, ToolResult] = {}
        running: dict[asyncio.Task[ToolResult], int] = {}
        for index, call in enumerate(calls):
            if refusal := self._refusal(call):
                ended[index] = failed(call, refusal)
                yield _step(ended[index])
            else:
                running[asyncio.ensure_future(self.call_tool(call))] = index
        try:
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=running.__getitem__):
                    index = running.pop(task)
                    ended[index] = _result(calls[index], task)
                    yield _step(ended[index])
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        results.extend(ended[index] for index in range(len(calls)))

    def _refusal(self, call: ToolCall) -> str | None:
        if call.name not in self.names:
            return f"There is no tool named {call.name!r}."
        if not isinstance(call.arguments, dict):
            return INVALID_ARGUMENTS
        return None


def _result(call: ToolCall, task: asyncio.Task[ToolResult]) -> ToolResult:
    if (exc := task.exception()) is not None:
        logger.error("tool call %s failed unexpectedly", call.call_id, exc_info=exc)
        return failed(call, "The tool call failed unexpectedly.")
    return task.result()


def _step(result: ToolResult) -> ToolStep:
    return ToolStep(result.call, FINISHED if result.status == FINISHED else FAILED, result=result)
