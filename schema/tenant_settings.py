"""Tenant settings (docs/protocol.md, "Tenant settings"): validated on the way in, stored with secrets
encrypted, shown without them.

Three shapes of one schema: a *patch* (what `PUT /api/tenant/settings` accepts:
every field optional, `null` removes a value, secrets in clear text), the
*stored* settings (secrets replaced by their Fernet token and hint), and the
*public* view (secrets shown as `api_key_set` / `secret_set` and a hint).
Validation is strict: `"false"`, `"0"` and `1` are not booleans.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model

from .credentials import Credentials, CredentialsError, hint
from .features import FEATURES
from .outbound import AddressNotAllowed, OutboundPolicy

logger = logging.getLogger(__name__)

PROVIDERS = ("apollo", "openai", "azure_openai", "anthropic")
DEFAULT_MAX_ROUNDS = 5
MAX_PARAMETERS_BYTES = 64 * 1024
STRICT = ConfigDict(extra="forbid", strict=True)
FRIENDLY = {
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "string_type": "must be a string",
    "list_type": "must be a list",
}


class SettingsError(Exception):
    """A setting is invalid: `field` is its dotted path, `message` a sentence naming it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _allowed_url(value: str, info: ValidationInfo) -> str:
    """A URL the workers may be pointed at (the policy comes in the validation context)."""
    policy: OutboundPolicy | None = (info.context or {}).get("policy")
    if policy is None:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value
    try:
        policy.check_url(value)
    except AddressNotAllowed as exc:
        raise ValueError(f"the address is not allowed ({exc.reason})") from None
    return value


def _json_schema_object(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("type") != "object":
        raise ValueError('must be a JSON Schema of type "object"')
    if len(orjson.dumps(value)) > MAX_PARAMETERS_BYTES:
        raise ValueError(f"must be at most {MAX_PARAMETERS_BYTES} bytes of JSON")
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
    return value


Url = Annotated[str, Field(max_length=2000), AfterValidator(_allowed_url)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/@-]+$")]
Deployment = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]  # a URL path segment
ApiVersion = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$")]
Secret = Annotated[str, Field(min_length=1, max_length=2000)]
ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

ExperimentalFeatures = create_model(  # one boolean per feature of the registry
    "ExperimentalFeatures", __config__=STRICT, **{f.key: (bool, f.default) for f in FEATURES}
)


class UsageLimit(BaseModel):
    model_config = STRICT
    monthly_tokens: Annotated[int, Field(ge=0)] | None = None  # None: no limit


class ToolDefinition(BaseModel):
    model_config = STRICT
    name: ToolName
    description: Annotated[str, Field(max_length=2000)] = ""
    parameters: Annotated[dict[str, Any], AfterValidator(_json_schema_object)]


class _AIProvider(BaseModel):
    model_config = STRICT
    provider: Literal["apollo", "openai", "azure_openai", "anthropic"] | None = None
    url: Url | None = None
    model: Name | None = None
    deployment: Deployment | None = None
    api_version: ApiVersion | None = None


class _Tools(BaseModel):
    model_config = STRICT
    webhook_url: Url | None = None
    max_rounds: Annotated[int, Field(ge=1, le=10)] = DEFAULT_MAX_ROUNDS
    definitions: Annotated[list[ToolDefinition], Field(max_length=64)] = []

    def names_unique(self) -> None:
        names = [d.name for d in self.definitions]
        if len(names) != len(set(names)):
            raise ValueError("tool names must be unique")


class AIProviderPatch(_AIProvider):
    api_key: Secret | None = None


class ToolsPatch(_Tools):
    secret: Secret | None = None


class AIProviderStored(_AIProvider):
    api_key_encrypted: str | None = None
    api_key_hint: str | None = None


class ToolsStored(_Tools):
    secret_encrypted: str | None = None
    secret_hint: str | None = None


class SettingsPatch(BaseModel):
    model_config = STRICT
    experimental_features: ExperimentalFeatures | None = None  # type: ignore[valid-type]
    ai_provider: AIProviderPatch | None = None
    usage_limit: UsageLimit | None = None
    tools: ToolsPatch | None = None


class TenantSettings(BaseModel):
    """The stored form."""

    model_config = STRICT
    experimental_features: ExperimentalFeatures = ExperimentalFeatures()  # type: ignore[valid-type]
    ai_provider: AIProviderStored = AIProviderStored()
    usage_limit: UsageLimit = UsageLimit()
    tools: ToolsStored = ToolsStored()

    def feature(self, key: str) -> bool:
        return bool(getattr(self.experimental_features, key))


def _error(exc: ValidationError) -> SettingsError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    if first["type"] == "extra_forbidden":
        return SettingsError(field, f"Invalid setting {field}: there is no such setting.")
    message = FRIENDLY.get(first["type"]) or first["msg"].removeprefix("Value error, ")
    return SettingsError(field, f"Invalid setting {field}: {message[:1].lower()}{message[1:].rstrip('.')}.")


def load(stored: Any) -> TenantSettings:
    """Settings as stored; a value stored before validation existed that fails it counts as the defaults."""
    try:
        return TenantSettings.model_validate(stored or {})
    except ValidationError as exc:
        logger.warning("tenant settings fail validation (%s); using the defaults", _error(exc).message)
        return TenantSettings()


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch: objects merge, `null` removes, anything else replaces."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


SECRETS = (("ai_provider", "api_key"), ("tools", "secret"))


def _secret(
    patch: SettingsPatch, section_name: str, name: str, merged: dict[str, Any], credentials: Credentials
) -> None:
    """Move a secret of the patch into the stored section, encrypted (or remove it when `null`)."""
    given = getattr(patch, section_name)
    if given is None or name not in given.model_fields_set:
        return
    value = getattr(given, name)
    section = merged.setdefault(section_name, {})
    section.pop(f"{name}_encrypted", None)
    section.pop(f"{name}_hint", None)
    if value is not None:
        try:
            section[f"{name}_encrypted"] = credentials.encrypt(value)
        except CredentialsError as exc:
            field = f"{section_name}.{name}"
            raise SettingsError(field, f"Invalid setting {field}: it cannot be stored. {exc}") from None
        section[f"{name}_hint"] = hint(value)


def apply_patch(stored: Any, patch: Any, policy: OutboundPolicy, credentials: Credentials) -> TenantSettings:
    """The stored settings after `patch`; raises SettingsError, so a broken value is never stored."""
    if not isinstance(patch, dict):
        raise SettingsError("settings", "Invalid settings: they must be a JSON object.")
    try:
        parsed = SettingsPatch.model_validate(patch, context={"policy": policy})
    except ValidationError as exc:
        raise _error(exc) from None
    changes = parsed.model_dump(mode="json", exclude_unset=True, exclude={s: {n} for s, n in SECRETS})
    merged = _merge(load(stored).model_dump(mode="json", exclude_none=True), changes)
    for section_name, name in SECRETS:
        _secret(parsed, section_name, name, merged, credentials)
    try:
        result = TenantSettings.model_validate(merged)
        result.tools.names_unique()
    except ValidationError as exc:
        raise _error(exc) from None
    except ValueError as exc:
        raise SettingsError("tools.definitions", f"Invalid setting tools.definitions: {exc}.") from None
    return result


def stored_form(settings: TenantSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json", exclude_none=True)


def public_view(settings: TenantSettings) -> dict[str, Any]:
    """What `GET /api/tenant/settings` shows: secrets only as `*_set` and a hint."""
    shown = settings.model_dump(
        mode="json", exclude={"ai_provider": {"api_key_encrypted"}, "tools": {"secret_encrypted"}}
    )
    shown["ai_provider"]["api_key_set"] = settings.ai_provider.api_key_encrypted is not None
    shown["tools"]["secret_set"] = settings.tools.secret_encrypted is not None
    return shown
