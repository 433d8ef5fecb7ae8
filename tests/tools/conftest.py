"""The tool tests' servers: a fake model and a signature-checking webhook, one of each per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fakes import SECRET, FakeModel, Webhook


@pytest.fixture
async def model() -> AsyncIterator[FakeModel]:
    async with FakeModel() as server:
        yield server


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    async with Webhook(SECRET) as server:
        yield server
