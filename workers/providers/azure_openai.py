"""Azure OpenAI: the OpenAI chat completions stream at a deployment's URL, keyed by an `api-key` header."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from workers.providers.openai import OpenAIProvider


class AzureOpenAIProvider(OpenAIProvider):
    def __init__(self, base_url: str, api_key: str | None, deployment: str, api_version: str, **options: Any) -> None:
        super().__init__(base_url, api_key, model=deployment, **options)
        self.url = (
            f"{self.base_url}/openai/deployments/{quote(deployment, safe='')}/chat/completions"
            f"?api-version={quote(api_version, safe='')}"
        )

    def headers(self, key: str | None) -> dict[str, str]:
        return {"api-key": key} if key else {}
