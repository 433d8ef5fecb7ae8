"""The azure_openai provider against a local server with Azure's URL shape."""

from __future__ import annotations

from workers.providers import create_provider
from workers.providers.events import Chunk, Complete, GenerationRequest, UpstreamError

from .azure import API_VERSION, DEPLOYMENT, KEY, AzureServer


async def test_azure_streams_from_the_deployment_url_with_the_api_key_header() -> None:
    async with AzureServer() as server:
        provider = create_provider("azure_openai", server.url, KEY, deployment=DEPLOYMENT, api_version=API_VERSION)
        events = [event async for event in provider.stream(GenerationRequest("hello", []))]
    assert events == [
        Chunk("Azure says: "), Chunk("hello"),
        Complete("Azure says: hello", usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
    ]  # fmt: skip
    (request,) = server.requests
    assert "authorization" not in request.headers


async def test_azure_reports_a_wrong_key_in_azure_s_words() -> None:
    async with AzureServer() as server:
        provider = create_provider("azure_openai", server.url, "wrong", deployment=DEPLOYMENT, api_version=API_VERSION)
        try:
            [event async for event in provider.stream(GenerationRequest("hello", []))]
        except UpstreamError as exc:
            assert "invalid subscription key" in exc.message
        else:
            raise AssertionError("a wrong key must fail")
