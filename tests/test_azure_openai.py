"""The azure_openai provider against a local server with Azure's URL shape."""

from __future__ import annotations

from workers.providers import create_provider
from workers.providers.vocabulary import Chunk, Complete, GenerationRequest, UpstreamError

from .azure import API_VERSION, DEPLOYMENT, KEY, AzureServer
from .system import Backend, System


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


async def test_a_tenant_on_azure_gets_its_answers_from_its_deployment(backend: Backend) -> None:
    async with AzureServer() as azure:
        host = azure.url.removeprefix("http://")  # the operator lists this internal host explicitly
        async with System(backend, tenant_allowed_hosts=host) as system:
            session_id = await system.new_session()
            provider = {"provider": "azure_openai", "url": azure.url, "deployment": DEPLOYMENT,
                        "api_version": API_VERSION, "api_key": KEY}  # fmt: skip
            admin = system.auth("root", role="admin")
            put = await system.http.put("/api/tenant/settings", json={"ai_provider": provider}, headers=admin)
            assert put.status_code == 200 and put.json()["assistant"] == {"enabled": True, "configured": True}
            message = await system.ask(session_id, "hello")
    assert message["status"] == "success" and message["content"] == "Azure says: hello"
    assert message["usage"] == {"input_tokens": 3, "output_tokens": 2}
