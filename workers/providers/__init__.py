"""Upstream providers: each turns one upstream HTTP stream into `ProviderEvent`s."""

from __future__ import annotations

from typing import Any

from workers.providers.anthropic import AnthropicProvider
from workers.providers.apollo import ApolloProvider
from workers.providers.azure_openai import AzureOpenAIProvider
from workers.providers.openai import OpenAIProvider
from workers.providers.vocabulary import Provider

PROVIDERS = ("apollo", "openai", "azure_openai", "anthropic", "demo")


def create_provider(name: str, base_url: str, api_key: str | None, **options: Any) -> Provider:
    """`demo` is apollo pointed at the demo server, whose URL the caller passes as `base_url`."""
    if name not in PROVIDERS:
        raise ValueError(f"Unknown upstream provider {name!r}; expected one of: {', '.join(PROVIDERS)}.")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"The {name} upstream provider needs an http(s) base URL, got {base_url!r}.")
    if name in ("apollo", "demo"):
        return ApolloProvider(base_url, api_key, **options)
    if name == "azure_openai":
        return AzureOpenAIProvider(base_url, api_key, **options)
    if not options.get("model"):
        raise ValueError(f"The {name} upstream provider needs a model name.")
    if name == "openai":
        return OpenAIProvider(base_url, api_key, **options)
    return AnthropicProvider(base_url, api_key, **options)
