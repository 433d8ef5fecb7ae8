"""A tenant's tools, from its stored settings: the provider wrapped in the tool loop, or left as it is."""

from __future__ import annotations

import httpx

from schema.credentials import Credentials, CredentialsError
from schema.tenant_settings import ToolsStored
from workers.providers.vocabulary import Provider, UpstreamError
from workers.tools.loop import ToolLoop
from workers.tools.webhook import ToolWebhook

TOOL_PROVIDERS = frozenset({"openai", "azure_openai", "anthropic"})


def with_tools(
    provider: Provider,
    provider_name: str,
    tools: ToolsStored,
    credentials: Credentials,
    client: httpx.AsyncClient,
    timeout: float,
) -> Provider:
    """Tools are on when the tenant set a webhook, its secret and at least one definition, for a provider
    that supports them (Apollo runs its own tools). `client` must be the guarded client for tenant URLs."""
    if provider_name not in TOOL_PROVIDERS or not (tools.webhook_url and tools.secret_encrypted and tools.definitions):
        return provider
    try:
        secret = credentials.decrypt(tools.secret_encrypted)
    except CredentialsError as exc:
        raise UpstreamError(f"The tools cannot be used: {exc}") from None
    definitions = [d.model_dump() for d in tools.definitions]
    webhook = ToolWebhook(tools.webhook_url, secret, client, timeout=timeout)
    return ToolLoop(provider, webhook, definitions, tools.max_rounds)
