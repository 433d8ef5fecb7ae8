"""The registry of experimental features a tenant admin can switch on (`experimental_features`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    key: str
    name: str
    description: str
    default: bool


AI_ASSISTANT = "ai_assistant"

FEATURES: tuple[Feature, ...] = (
    Feature(
        AI_ASSISTANT,
        "AI Assistant",
        "Chat with an AI assistant in sessions; its answers stream live to every tab watching the session.",
        False,
    ),
)


def listing(enabled: dict[str, bool]) -> list[dict[str, object]]:
    """`GET /api/tenant/features`: every feature with whether this tenant has it on."""
    return [
        {
            "key": f.key, "name": f.name, "description": f.description,
            "default": f.default, "enabled": enabled.get(f.key, f.default),
        }
        for f in FEATURES
    ]  # fmt: skip
