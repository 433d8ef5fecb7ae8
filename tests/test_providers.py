"""Providers against real local HTTP servers: the demo upstream under uvicorn, and a raw asyncio
server that writes exact bytes where the upstream must misbehave."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from relay.demo_script import SAMPLE_JOB_CODE, WORKFLOW_YAML, answer_chunks
from relay.demo_upstream import DemoUpstream
from workers.providers import create_provider
from workers.providers.anthropic import AnthropicProvider
from workers.providers.apollo import ApolloProvider
from workers.providers.openai import OpenAIProvider
from workers.providers.tool_calls import ToolCall, ToolUse
from workers.providers.vocabulary import (
    Changes,
    Chunk,
    Complete,
    GenerationRequest,
    Provider,
    ProviderEvent,
    Status,
    ToolStep,
    UpstreamError,
)

from .faults.upstreams import chunked, respond, stream, text_delta

QUESTION = "How do I sync patients from DHIS2 to Postgres?"
FAST = {"first_byte_timeout": 0.3, "idle_timeout": 0.3}

Script = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class RawServer:
    url: str
    requests: list[Captured] = field(default_factory=list)


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[RawServer]:
    """An HTTP server on a free port that reads one request per connection and runs `script`."""
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            request_line, *header_lines = head.strip().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            server.requests.append(Captured(request_line.split()[1], headers, json.loads(body or b"{}")))
            await script(writer)
        finally:
            writer.close()

    tcp = await asyncio.start_server(handle, "127.0.0.1", 0)
    server = RawServer(f"http://127.0.0.1:{tcp.sockets[0].getsockname()[1]}")
    try:
        yield server
    finally:
        tcp.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def sse(event: str | None, data: Any) -> bytes:
    name = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{name}data: {payload}\n\n".encode()








def hang_after(*events: bytes) -> Script:
    async def script(writer: asyncio.StreamWriter) -> None:
        await stream(*events, end=False)(writer)
        await asyncio.sleep(60)

    return script




def complete(response: str, **extra: Any) -> bytes:
    return sse("complete", {"response": response, "history": [], "usage": {}, "meta": {}, **extra})


async def collect(provider: Provider, request: GenerationRequest | None = None) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request or GenerationRequest(QUESTION, []))]


async def failure(provider: Provider, seen: list[ProviderEvent] | None = None) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        async for event in provider.stream(GenerationRequest(QUESTION, [])):
            if seen is not None:
                seen.append(event)
    return caught.value


async def apollo_failure(script: Script, **options: Any) -> UpstreamError:
    async with raw_server(script) as server:
        return await failure(ApolloProvider(server.url, **{**FAST, **options}))


@pytest.fixture
async def demo() -> AsyncIterator[DemoUpstream]:
    async with DemoUpstream(chunk_delay=0.001, chunks=40) as upstream:
        yield upstream


# --- the demo upstream -------------------------------------------------------------------------


async def test_demo_streams_status_changes_chunks_and_a_complete_matching_the_chunks(demo):
    events = await collect(create_provider("demo", demo.url, None))

    assert events[0] == Status("Thinking…")
    assert Status("Searching documentation…") in events
    changes = [e for e in events if isinstance(e, Changes)]
    assert changes == [Changes({"yaml": WORKFLOW_YAML})]
    chunks = [e.content for e in events if isinstance(e, Chunk)]
    assert len(chunks) == 40
    assert events.index(changes[0]) < events.index(Chunk(chunks[0]))
    final = events[-1]
    assert isinstance(final, Complete)
    assert final.response == "".join(chunks)
    assert QUESTION in final.response
    assert final.changes == [{"yaml": WORKFLOW_YAML}]
    assert final.usage == {"input_tokens": len(QUESTION.split()), "output_tokens": 40}


async def test_demo_request_meta_overrides_chunk_count_and_delay():
    async with DemoUpstream(chunk_delay=5.0) as upstream:
        request = GenerationRequest("hi", [], meta={"demo": {"chunks": 500, "delay": 0}})
        events = await asyncio.wait_for(collect(ApolloProvider(upstream.url), request), 5)
    chunks = [e.content for e in events if isinstance(e, Chunk)]
    assert len(chunks) == 500
    assert events[-1] == Complete(
        "".join(chunks), [{"yaml": WORKFLOW_YAML}], events[-1].usage, events[-1].meta
    )


async def test_demo_answers_a_docs_search_with_a_tool_step_and_a_job_code_fix_with_code_edits(demo):
    provider = create_provider("demo", demo.url, None)
    searched = await collect(provider, GenerationRequest("Search the docs: how do cron triggers work?", []))
    assert [e.call.name for e in searched if isinstance(e, ToolStep)][:1] == ["search_docs"]
    assert not [e for e in searched if isinstance(e, Changes)], "a search proposes no change"
    assert searched[-1].changes == [] and "| `0 * * * *` |" in searched[-1].response

    code = GenerationRequest("Fix my job code: the next step gets no data", [], context={"job_code": SAMPLE_JOB_CODE})
    fixed = await collect(provider, code)
    [edits] = [e.changes["code_edits"] for e in fixed if isinstance(e, Changes)]
    assert len(edits) == 1 and edits[0]["old"] in SAMPLE_JOB_CODE and "return state;" in edits[0]["new"]
    empty = await collect(provider, GenerationRequest("Fix my job code please", [], context={"job_code": ""}))
    [[added]] = [e.changes["code_edits"] for e in empty if isinstance(e, Changes)]
    assert added["old"] == "" and "return state;" in added["new"], "no code yet: a step to add"
    assert fixed[-1].changes == [], "the final answer keeps the edits for a person to accept"


def test_demo_answer_splits_into_exactly_the_requested_pieces_without_losing_text():
    whole = "".join(answer_chunks(QUESTION, 1))
    assert "".join(answer_chunks(QUESTION, 7)) == whole
    long = answer_chunks(QUESTION, 300)
    assert len(long) == 300
    assert all(long)
    assert "".join(long).startswith(whole)


async def test_demo_error_after_ends_with_an_upstream_error_after_partial_chunks(demo):
    seen: list[ProviderEvent] = []
    request = GenerationRequest(QUESTION, [], meta={"demo": {"error_after": 3}})
    with pytest.raises(UpstreamError) as caught:
        async for event in ApolloProvider(demo.url).stream(request):
            seen.append(event)
    assert caught.value.status == "error"
    assert "The demo upstream failed on request (code 500)" in caught.value.message
    assert sum(isinstance(e, Chunk) for e in seen) == 3


async def test_demo_drop_after_ends_the_stream_without_complete_as_interrupted(demo):
    request = GenerationRequest(QUESTION, [], meta={"demo": {"drop_after": 2}})
    with pytest.raises(UpstreamError) as caught:
        await collect(ApolloProvider(demo.url), request)
    assert caught.value.status == "interrupted"


async def test_demo_rejects_a_malformed_request_with_a_json_error(demo):
    request = GenerationRequest(QUESTION, [], meta={"demo": {"chunks": "many"}})
    with pytest.raises(UpstreamError) as caught:
        await collect(ApolloProvider(demo.url), request)
    assert caught.value.message.startswith(
        "The AI service answered HTTP 400 Bad Request: Invalid demo request"
    )


# --- apollo: request and event mapping ----------------------------------------------------------


async def test_apollo_posts_to_the_context_service_with_the_request_api_key():
    async with raw_server(stream(complete("ok"))) as server:
        provider = ApolloProvider(server.url + "/", api_key="default-key")
        request = GenerationRequest(
            "hello",
            [{"role": "user", "content": "earlier"}],
            context={"service": "workflow_chat"},
            meta={"m": 1},
            api_key="tenant-key",
        )
        await collect(provider, request)
        await collect(provider)
    first, second = server.requests
    assert first.path == "/services/workflow_chat/stream"
    assert first.body == {
        "content": "hello",
        "history": [{"role": "user", "content": "earlier"}],
        "context": {"service": "workflow_chat"},
        "meta": {"m": 1},
        "stream": True,
        "api_key": "tenant-key",
    }
    assert first.headers["accept"] == "text/event-stream"
    assert second.path == "/services/job_chat/stream"
    assert second.body["api_key"] == "default-key"


async def test_apollo_refuses_a_service_name_that_is_not_a_path_segment():
    provider = ApolloProvider("http://127.0.0.1:9")
    with pytest.raises(UpstreamError, match="not a valid service name"):
        await collect(provider, GenerationRequest("x", [], context={"service": "../admin"}))


async def test_apollo_maps_thinking_text_changes_and_complete_and_ignores_the_rest():
    script = stream(
        sse("message_start", {"type": "message_start", "message": {}}),
        sse("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        sse("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Reading"}}),
        sse("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
        sse("content_block_stop", {"index": 0}),
        sse("changes", {"code_edits": [{"old": "a", "new": "b"}]}),
        sse("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        text_delta("Hello "),
        text_delta("world"),
        sse("message_delta", {"delta": {"stop_reason": "end_turn"}}),
        sse("message_stop", {}),
        complete(
            "Hello world",
            suggested_code="fn(s => s)",
            response_yaml="jobs: {}",
            usage={"input_tokens": 3},
            meta={"rag": []},
        ),
    )
    async with raw_server(script) as server:
        events = await collect(ApolloProvider(server.url))
    assert events == [
        Status("Thinking…"),
        Status("Reading"),
        Changes({"code_edits": [{"old": "a", "new": "b"}]}),
        Chunk("Hello "),
        Chunk("world"),
        Complete(
            "Hello world", [{"code": "fn(s => s)"}, {"yaml": "jobs: {}"}], {"input_tokens": 3}, {"rag": []}
        ),
    ]


async def test_apollo_logs_and_ignores_log_and_unknown_events(caplog):
    script = stream(
        sse("log", "retrieving docs"),
        sse("tool_use", {"x": 1}),
        sse("surprise", "not json"),
        text_delta("a"),
        complete("a"),
    )
    caplog.set_level(logging.INFO, logger="workers.providers.apollo")
    async with raw_server(script) as server:
        events = await collect(ApolloProvider(server.url))
    assert events == [Chunk("a"), Complete("a")]
    assert "retrieving docs" in caplog.text
    assert "'tool_use'" in caplog.text
    assert "'surprise'" in caplog.text


async def test_apollo_keepalive_comments_keep_an_idle_stream_alive():
    script = stream(text_delta("a"), b": ping\n\n", b": ping\n\n", b": ping\n\n", complete("a"), pause=0.1)
    async with raw_server(script) as server:
        events = await collect(ApolloProvider(server.url, idle_timeout=0.2))
    assert events[-1] == Complete("a")


async def test_apollo_json_answer_is_the_non_streaming_fallback():
    body = json.dumps({"response": "All done", "suggested_code": "fn()", "history": [], "usage": {"n": 1}})
    async with raw_server(respond("200 OK", "application/json", body.encode())) as server:
        events = await collect(ApolloProvider(server.url))
    assert events == [Chunk("All done"), Complete("All done", [{"code": "fn()"}], {"n": 1})]


async def test_apollo_reads_events_split_across_network_chunks():
    whole = text_delta("é and ü") + complete("é and ü")
    async with raw_server(stream(*(whole[i : i + 7] for i in range(0, len(whole), 7)))) as server:
        events = await collect(ApolloProvider(server.url))
    assert events == [Chunk("é and ü"), Complete("é and ü")]


async def test_closing_the_stream_early_closes_the_upstream_connection():
    disconnected = asyncio.Event()

    async def endless(writer: asyncio.StreamWriter) -> None:
        await stream(text_delta("a"), end=False)(writer)
        try:
            while True:
                writer.write(chunked(b": ping\n\n"))
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            disconnected.set()

    async with raw_server(endless) as server:
        events = ApolloProvider(server.url).stream(GenerationRequest(QUESTION, []))
        assert await anext(events) == Chunk("a")
        await events.aclose()
        await asyncio.wait_for(disconnected.wait(), 2)


# --- apollo: every failure is a specific UpstreamError --------------------------------------------


async def test_upstream_error_event_raises_its_message_and_code_as_error():
    error = await apollo_failure(
        stream(
            text_delta("partial"),
            sse("error", {"code": 429, "type": "RATE_LIMIT", "message": "Too many requests."}),
        )
    )
    assert error.status == "error"
    assert error.message == "The AI service reported an error: Too many requests (code 429)."


async def test_http_error_with_json_body_uses_its_message():
    body = json.dumps({"code": 401, "type": "UNAUTHORIZED", "message": "Invalid API key"}).encode()
    error = await apollo_failure(respond("401 Unauthorized", "application/json", body))
    assert error.status == "error"
    assert error.message == "The AI service answered HTTP 401 Unauthorized: Invalid API key."


async def test_http_error_with_html_body_names_the_status_not_the_html():
    body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    error = await apollo_failure(respond("502 Bad Gateway", "text/html", body))
    assert error.status == "error"
    assert error.message == "The AI service answered HTTP 502 Bad Gateway with an HTML error page."


async def test_http_error_with_empty_body_names_the_status():
    error = await apollo_failure(respond("503 Service Unavailable", None, b""))
    assert error.status == "error"
    assert error.message == "The AI service answered HTTP 503 Service Unavailable with an empty body."


async def test_success_with_an_html_page_instead_of_a_stream_is_an_error():
    error = await apollo_failure(respond("200 OK", "text/html; charset=utf-8", b"<html>login</html>"))
    assert error.status == "error"
    assert error.message == "The AI service answered with text/html instead of an event stream."


async def test_connection_refused_is_an_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await failure(ApolloProvider(f"http://127.0.0.1:{port}", **FAST))
    assert error.status == "error"
    assert error.message == "Could not connect to the AI service: connection refused."


async def test_no_answer_before_first_byte_timeout_is_an_error():
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)

    error = await apollo_failure(silent, first_byte_timeout=0.2)
    assert error.status == "error"
    assert error.message == "The AI service did not start answering within 0.2 seconds."


async def test_headers_without_a_first_event_before_first_byte_timeout_is_an_error():
    error = await apollo_failure(hang_after(), first_byte_timeout=0.2)
    assert error.status == "error"
    assert "did not start answering" in error.message


async def test_gap_between_events_over_idle_timeout_is_interrupted():
    seen: list[ProviderEvent] = []
    async with raw_server(hang_after(text_delta("partial"))) as server:
        error = await failure(ApolloProvider(server.url, first_byte_timeout=5, idle_timeout=0.2), seen)
    assert error.status == "interrupted"
    assert error.message == "The AI service sent nothing for 0.2 seconds, so the stream was abandoned."
    assert seen == [Chunk("partial")]


async def test_connection_dropped_mid_stream_is_interrupted_after_the_partial_content():
    seen: list[ProviderEvent] = []
    async with raw_server(stream(text_delta("partial"), end=False)) as server:
        error = await failure(ApolloProvider(server.url, **FAST), seen)
    assert error.status == "interrupted"
    assert error.message == "The connection to the AI service was lost mid-stream."
    assert seen == [Chunk("partial")]


async def test_server_closing_before_answering_is_an_error():
    async def close(writer: asyncio.StreamWriter) -> None:
        return None

    error = await apollo_failure(close)
    assert error.status == "error"
    assert error.message == "The AI service closed the connection without answering."


async def test_invalid_json_in_event_data_is_an_error_naming_the_event():
    error = await apollo_failure(stream(sse("content_block_delta", "{not json")))
    assert error.status == "error"
    assert error.message == "The AI service sent invalid JSON in a 'content_block_delta' event."


async def test_stream_ending_without_complete_is_interrupted():
    error = await apollo_failure(stream(text_delta("partial"), sse("message_stop", {})))
    assert error.status == "interrupted"
    assert error.message == "The AI service ended the stream without a final answer."


async def test_event_larger_than_max_event_bytes_is_an_error():
    error = await apollo_failure(stream(text_delta("x" * 5000)), max_event_bytes=1000)
    assert error.status == "error"
    assert error.message == "The AI service sent an event larger than 1000 bytes."


async def test_endless_line_is_refused_before_it_ends():
    error = await apollo_failure(hang_after(b"data: " + b"x" * 5000), max_event_bytes=1000)
    assert error.message == "The AI service sent an event larger than 1000 bytes."


async def test_complete_without_a_response_is_an_error():
    error = await apollo_failure(stream(sse("complete", {"history": []})))
    assert error.status == "error"
    assert error.message == "The AI service sent a 'complete' event without a response."


# --- openai -------------------------------------------------------------------------------------


def openai_delta(content: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    return sse(None, {"id": "c1", "object": "chat.completion.chunk", "choices": choices, "usage": usage})


async def test_openai_streams_deltas_until_done_with_usage():
    script = stream(
        sse(None, {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
        openai_delta("Hel"),
        openai_delta("lo"),
        openai_delta(usage={"prompt_tokens": 5, "completion_tokens": 2}),
        sse(None, "[DONE]"),
    )
    async with raw_server(script) as server:
        provider = OpenAIProvider(server.url + "/v1", "sk-test", "gpt-test")
        events = await collect(provider, GenerationRequest("hi", [{"role": "assistant", "content": "yo"}]))
    assert events == [
        Chunk("Hel"),
        Chunk("lo"),
        Complete("Hello", usage={"prompt_tokens": 5, "completion_tokens": 2}),
    ]
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "gpt-test"
    assert request.body["stream"] is True
    assert request.body["messages"] == [
        {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "hi"},
    ]


async def test_openai_stream_without_done_is_interrupted():
    async with raw_server(stream(openai_delta("Hel"))) as server:
        error = await failure(OpenAIProvider(server.url, None, "m", **FAST))
    assert error.status == "interrupted"


async def test_openai_error_in_stream_and_http_error_use_the_upstream_message():
    async with raw_server(
        stream(openai_delta("a"), sse(None, {"error": {"message": "context too long"}}))
    ) as server:
        in_stream = await failure(OpenAIProvider(server.url, None, "m", **FAST))
    body = json.dumps({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
    async with raw_server(respond("401 Unauthorized", "application/json", body.encode())) as server:
        http = await failure(OpenAIProvider(server.url, "bad", "m", **FAST))
    assert in_stream.message == "The AI service reported an error: context too long."
    assert http.message == "The AI service answered HTTP 401 Unauthorized: Incorrect API key provided."


async def test_openai_json_answer_is_the_non_streaming_fallback():
    body = json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": "Whole"}}], "usage": {"t": 1}}
    )
    async with raw_server(respond("200 OK", "application/json", body.encode())) as server:
        events = await collect(OpenAIProvider(server.url, None, "m"))
    assert events == [Chunk("Whole"), Complete("Whole", usage={"t": 1})]



async def test_openai_json_answer_that_calls_a_tool_ends_its_round_asking_for_the_call():
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Let me look", "tool_calls": [call]}}]})
    request = GenerationRequest(QUESTION, [], tools=[{"name": "lookup", "description": "", "parameters": {}}])
    async with raw_server(respond("200 OK", "application/json", body.encode())) as server:
        events = await collect(OpenAIProvider(server.url, None, "m"), request)
    assert events == [Chunk("Let me look"), ToolUse([ToolCall("c1", "lookup", {"q": "x"})], "Let me look", {})]

# --- anthropic ----------------------------------------------------------------------------------


async def test_anthropic_streams_thinking_text_and_usage_until_message_stop():
    script = stream(
        sse("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 9}}}),
        sse("ping", {"type": "ping"}),
        sse("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        sse("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        sse("content_block_stop", {"index": 0}),
        sse("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        text_delta("Hi "),
        text_delta("there"),
        sse("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        sse("message_stop", {"type": "message_stop"}),
    )
    async with raw_server(script) as server:
        events = await collect(AnthropicProvider(server.url, "key-1", "claude-test"))
    assert events == [
        Status("Thinking…"),
        Chunk("Hi "),
        Chunk("there"),
        Complete("Hi there", usage={"input_tokens": 9, "output_tokens": 2}),
    ]
    (request,) = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "key-1"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["model"] == "claude-test"
    assert request.body["stream"] is True


async def test_anthropic_error_event_raises_its_message():
    error_event = sse(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    async with raw_server(stream(text_delta("a"), error_event)) as server:
        error = await failure(AnthropicProvider(server.url, "k", "m", **FAST))
    assert error.status == "error"
    assert error.message == "The AI service reported an error: Overloaded."


# --- factory ------------------------------------------------------------------------------------


def test_create_provider_builds_each_provider_and_refuses_unknown_names():
    assert isinstance(create_provider("apollo", "http://a", "k"), ApolloProvider)
    assert isinstance(create_provider("demo", "http://a", None, idle_timeout=1), ApolloProvider)
    assert isinstance(create_provider("openai", "http://a", "k", model="m"), OpenAIProvider)
    assert isinstance(create_provider("anthropic", "http://a", "k", model="m"), AnthropicProvider)
    with pytest.raises(ValueError, match="Unknown upstream provider 'gemini'"):
        create_provider("gemini", "http://a", "k")
    with pytest.raises(ValueError, match="needs a model name"):
        create_provider("openai", "http://a", "k")
    with pytest.raises(ValueError, match="needs an http"):
        create_provider("apollo", "localhost:3000", "k")


async def test_a_slow_consumer_does_not_count_against_the_idle_timeout():
    script = stream(text_delta("<0>"), text_delta("<1>"), complete("<0><1>"), pause=0.05)
    seen = []
    async with raw_server(script) as server:
        async for event in ApolloProvider(server.url, first_byte_timeout=5, idle_timeout=0.2).stream(
            GenerationRequest(QUESTION, [])
        ):
            seen.append(event)
            await asyncio.sleep(0.3)  # longer than the idle timeout; the upstream itself is never silent that long
    assert seen == [Chunk("<0>"), Chunk("<1>"), Complete("<0><1>")]


async def test_a_compressed_event_stream_is_decoded():
    import gzip

    body = gzip.compress(text_delta("zipped") + complete("zipped"))

    async def script(writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
        writer.write(head + b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
        for part in (body[:10], body[10:]):
            writer.write(chunked(part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with raw_server(script) as server:
        assert await collect(ApolloProvider(server.url, **FAST)) == [Chunk("zipped"), Complete("zipped")]


async def test_anthropic_json_answer_is_the_non_streaming_fallback_and_can_call_a_tool():
    content = [{"type": "text", "text": "Whole"}, {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": 1}}]
    body = json.dumps({"content": content, "usage": {"output_tokens": 3}}).encode()
    with_tools = GenerationRequest(QUESTION, [], tools=[{"name": "lookup", "description": "", "parameters": {}}])
    async with raw_server(respond("200 OK", "application/json", body)) as server:
        answered = await collect(AnthropicProvider(server.url, "k", "m"))
        asked = await collect(AnthropicProvider(server.url, "k", "m"), with_tools)
    assert answered == [Chunk("Whole"), Complete("Whole", usage={"output_tokens": 3})]
    assert asked == [Chunk("Whole"), ToolUse([ToolCall("t1", "lookup", {"q": 1})], "Whole", {"output_tokens": 3})]
