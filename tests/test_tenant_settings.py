"""Tenant settings validation: strict types, named fields, merge patches, secrets encrypted."""

from __future__ import annotations

from typing import Any

import pytest

from schema.credentials import Credentials, CredentialsError, generate_key
from schema.outbound import OutboundPolicy
from schema.tenant_settings import SettingsError, TenantSettings, apply_patch, load, public_view, stored_form

POLICY = OutboundPolicy.parse("api.openai.com,*.openai.azure.com,hooks.example.com")
CREDENTIALS = Credentials(generate_key())
OBJECT = {"type": "object", "properties": {"q": {"type": "string"}}}


def patch(patch: Any, stored: Any = None, credentials: Credentials = CREDENTIALS) -> dict[str, Any]:
    return stored_form(apply_patch(stored or {}, patch, POLICY, credentials))


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"experimental_features": {"ai_assistant": "false"}}, "experimental_features.ai_assistant"),
        ({"experimental_features": {"ai_assistant": "0"}}, "experimental_features.ai_assistant"),
        ({"experimental_features": {"ai_assistant": 1}}, "experimental_features.ai_assistant"),
        ({"experimental_features": "yes"}, "experimental_features"),
        ({"experimental_features": {"time_travel": True}}, "experimental_features.time_travel"),
        ({"ai_provider": "junk"}, "ai_provider"),
        ({"ai_provider": {"provider": "skynet"}}, "ai_provider.provider"),
        ({"ai_provider": {"url": "http://127.0.0.1:6379/?x="}}, "ai_provider.url"),
        ({"ai_provider": {"url": "http://acme.openai.azure.com/"}}, "ai_provider.url"),  # http: listed by wildcard only
        ({"ai_provider": {"deployment": "../../admin"}}, "ai_provider.deployment"),
        ({"ai_provider": {"api_key_encrypted": "gAAAA"}}, "ai_provider.api_key_encrypted"),
        ({"ai_provider": {"api_key": 12345}}, "ai_provider.api_key"),
        ({"usage_limit": {"monthly_tokens": -1}}, "usage_limit.monthly_tokens"),
        ({"usage_limit": {"monthly_tokens": True}}, "usage_limit.monthly_tokens"),
        ({"usage_limit": {"monthly_tokens": "100"}}, "usage_limit.monthly_tokens"),
        ({"tools": {"webhook_url": "https://169.254.169.254/latest"}}, "tools.webhook_url"),
        ({"tools": {"max_rounds": 0}}, "tools.max_rounds"),
        ({"tools": {"max_rounds": 11}}, "tools.max_rounds"),
        ({"tools": {"definitions": [{"name": "f", "parameters": {"type": "string"}}]}},
         "tools.definitions.0.parameters"),
        ({"tools": {"definitions": [{"name": "f", "parameters": {"type": "object", "required": 3}}]}},
         "tools.definitions.0.parameters"),
        ({"tools": {"definitions": [{"name": "no spaces", "parameters": OBJECT}]}}, "tools.definitions.0.name"),
        ({"tools": {"definitions": [{"name": "f", "parameters": OBJECT}] * 2}}, "tools.definitions"),
        ({"tools": {"secret_encrypted": "x"}}, "tools.secret_encrypted"),
        ([1, 2], "settings"),
    ],
)  # fmt: skip
def test_an_invalid_setting_is_refused_naming_its_field(bad: Any, field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        patch(bad)
    assert caught.value.field == field
    assert field in caught.value.message


def test_a_patch_merges_into_what_is_stored() -> None:
    stored = patch({"experimental_features": {"ai_assistant": True}, "usage_limit": {"monthly_tokens": 1000}})
    stored = patch({"ai_provider": {"provider": "openai", "url": "https://api.openai.com/v1", "model": "m"}}, stored)
    stored = patch({"usage_limit": {"monthly_tokens": None}, "ai_provider": {"model": "m2"}}, stored)
    settings = load(stored)
    assert settings.feature("ai_assistant") is True
    assert settings.usage_limit.monthly_tokens is None
    assert (settings.ai_provider.provider, settings.ai_provider.model) == ("openai", "m2")


def test_secrets_are_stored_encrypted_and_shown_only_as_set_and_a_hint() -> None:
    stored = patch({"ai_provider": {"api_key": "sk-tenant-0123456789"}, "tools": {"secret": "whsec-abcdefghijkl"}})
    assert "sk-tenant-0123456789" not in str(stored) and "whsec-abcdefghijkl" not in str(stored)
    settings = load(stored)
    assert CREDENTIALS.decrypt(settings.ai_provider.api_key_encrypted or "") == "sk-tenant-0123456789"
    shown = public_view(settings)
    assert shown["ai_provider"]["api_key_set"] is True and shown["ai_provider"]["api_key_hint"] == "6789"
    assert shown["tools"]["secret_set"] is True and shown["tools"]["secret_hint"] == "ijkl"
    assert "encrypted" not in str(shown)
    shown = public_view(load(patch({"ai_provider": {"api_key": None}}, stored)))
    assert shown["ai_provider"]["api_key_set"] is False and shown["tools"]["secret_set"] is True


def test_a_secret_cannot_be_stored_without_a_credentials_key() -> None:
    with pytest.raises(SettingsError, match="CREDENTIALS_KEY") as caught:
        patch({"ai_provider": {"api_key": "sk-tenant-0123456789"}}, credentials=Credentials(None))
    assert caught.value.field == "ai_provider.api_key"
    with pytest.raises(CredentialsError):
        Credentials(None).decrypt("gAAAA")


def test_rotation_keeps_old_secrets_readable_and_moves_them_to_the_newest_key() -> None:
    old, new = generate_key(), generate_key()
    token = Credentials(old).encrypt("sk-secret")
    rotated = Credentials(f"{new},{old}").rotate(token)
    assert Credentials(new).decrypt(rotated) == "sk-secret"
    with pytest.raises(CredentialsError):
        Credentials(new).decrypt(token)


def test_the_tools_section_takes_json_schema_definitions() -> None:
    definition = {"name": "lookup_order", "description": "Find an order", "parameters": OBJECT}
    tools = {"webhook_url": "https://hooks.example.com/tools", "max_rounds": 3, "definitions": [definition]}
    settings = load(patch({"tools": tools}))
    assert settings.tools.max_rounds == 3 and settings.tools.definitions[0].parameters == OBJECT


def test_settings_stored_before_validation_that_fail_it_count_as_the_defaults() -> None:
    assert load({"experimental_features": "yes"}) == TenantSettings()
    assert load({"experimental_features": {"ai_assistant": "true"}}).feature("ai_assistant") is False
