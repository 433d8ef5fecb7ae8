"""The provider for one generation, from the tenant's settings over the operator's.

The operator's URL is reached with the worker's ordinary client; a URL the
tenant chose only through the outbound guard (`schema.outbound`), and never
with the operator's key (`schema.ai_config`).
"""

from __future__ import annotations

from typing import Any

import httpx

from relay.settings import Settings
from schema.ai_config import NotConfigured, resolve
from schema.credentials import CredentialsError
from schema.tenant_settings import load

from .providers import create_provider
from .providers.vocabulary import Provider, ProviderFor, UpstreamError
from .tools.setup import with_tools


def provider_factory(settings: Settings, client: httpx.AsyncClient, tenant_client: httpx.AsyncClient) -> ProviderFor:
    """`provider_for(stored tenant settings)`; raises UpstreamError when the tenant's AI is not configured."""

    def provider_for(tenant_settings: dict[str, Any]) -> Provider:
        stored = load(tenant_settings)
        try:
            upstream = resolve(stored, settings.operator, settings.credentials)
        except (NotConfigured, CredentialsError) as exc:
            raise UpstreamError(f"The AI assistant is not configured: {exc}") from None
        options: dict[str, Any] = {
            "client": tenant_client if upstream.tenant_url else client,
            "first_byte_timeout": settings.upstream_first_byte_timeout,
            "idle_timeout": settings.upstream_idle_timeout,
            "max_event_bytes": settings.upstream_max_event_bytes,
        }
        if upstream.provider in ("openai", "anthropic"):
            options["model"] = upstream.model
        if upstream.provider == "azure_openai":
            options.update(deployment=upstream.deployment, api_version=upstream.api_version)
        provider = create_provider(upstream.provider, upstream.url, upstream.api_key, **options)
        # the webhook is always a tenant URL: only ever through the guarded client
        tools = (stored.tools, settings.credentials, tenant_client, settings.tool_timeout_seconds)
        return with_tools(provider, upstream.provider, *tools)

    return provider_for
