"""A tenant's settings document: its defaults, how a patch merges in, and what clients may see.

Shared by the gateway (which stores and shows it) and the workers (which read
`ai_provider` to pick the upstream).
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {"experimental_features": {"ai_assistant": False}, "ai_provider": {}}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` deep-merged into `base` (objects merge key by key; anything else replaces)."""
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def effective(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The stored settings over the defaults."""
    return merge(DEFAULTS, stored or {})


def assistant_enabled(stored: dict[str, Any] | None) -> bool:
    return bool(effective(stored)["experimental_features"].get("ai_assistant"))


def public(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Settings as shown to clients: API keys are write-only."""
    shown = effective(stored)
    provider = dict(shown.get("ai_provider") or {})
    provider["api_key_set"] = bool(provider.pop("api_key", None))
    shown["ai_provider"] = provider
    return shown
