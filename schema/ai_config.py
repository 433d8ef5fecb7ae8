"""Which AI service a tenant's generations go to, with which key: the tenant's settings over the operator's.

The operator's key goes to the operator's URL and nowhere else: a tenant that
names its own URL must bring its own key. Both the gateway (is the assistant
*configured*?) and the worker (where to connect) decide here, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .credentials import Credentials
from .tenant_settings import TenantSettings

KEYED_PROVIDERS = ("openai", "azure_openai", "anthropic")  # apollo and demo work without a key of ours
MODEL_PROVIDERS = ("openai", "anthropic")
DEFAULT_AZURE_API_VERSION = "2024-10-21"


class NotConfigured(Exception):
    """The provider lacks what it needs; the message says what, for people."""


@dataclass(frozen=True)
class Operator:
    """The environment's upstream (`UPSTREAM_*`) and whether tenants must bring their own keys."""

    provider: str
    url: str | None
    api_key: str | None = None
    model: str = ""
    keys_required: bool = False


@dataclass(frozen=True)
class Upstream:
    provider: str
    url: str
    api_key: str | None
    tenant_url: bool  # chosen by the tenant: connect only through the outbound guard
    model: str = ""
    deployment: str = ""
    api_version: str = DEFAULT_AZURE_API_VERSION


def _same_url(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.rstrip("/") == b.rstrip("/")


def resolve(settings: TenantSettings, operator: Operator, credentials: Credentials | None) -> Upstream:
    """The upstream to use; raises NotConfigured. Without `credentials` a tenant key is not decrypted."""
    chosen = settings.ai_provider
    provider = chosen.provider or operator.provider
    own_provider = provider == operator.provider
    url = chosen.url or (operator.url if own_provider else None)
    if not url:
        raise NotConfigured(f"No address is set for the {provider} AI service.")
    tenant_url = not _same_url(url, operator.url)
    tenant_key = chosen.api_key_encrypted is not None
    # the operator's key never goes to a tenant's URL
    operator_key = not (tenant_key or tenant_url or operator.keys_required) and bool(operator.api_key)
    needs_key = provider in KEYED_PROVIDERS or (operator.keys_required and provider != "demo")
    if needs_key and not (tenant_key or operator_key):
        raise NotConfigured(f"No API key is set for the {provider} AI service.")
    api_key = operator.api_key if operator_key else None
    if tenant_key and credentials is not None:
        api_key = credentials.decrypt(chosen.api_key_encrypted)  # type: ignore[arg-type]
    model = chosen.model or (operator.model if own_provider else "")
    if provider in MODEL_PROVIDERS and not model:
        raise NotConfigured(f"No model is set for the {provider} AI service.")
    if provider == "azure_openai" and not chosen.deployment:
        raise NotConfigured("No deployment is set for the Azure OpenAI service.")
    return Upstream(
        provider, url, api_key, tenant_url, model, chosen.deployment or "",
        chosen.api_version or DEFAULT_AZURE_API_VERSION,
    )  # fmt: skip


def configured(settings: TenantSettings, operator: Operator) -> bool:
    try:
        resolve(settings, operator, None)
    except NotConfigured:
        return False
    return True
