"""The grants role's contract (`relay.broker.grant_store`): memory and Redis (and Redis Cluster) alike."""

from __future__ import annotations

import asyncio

import pytest

from relay.broker.base import Broker
from relay.broker.grant_store import Grants

from . import brokers

broker = brokers.broker


@pytest.fixture
def grants(broker: Broker) -> Grants:
    return broker.grants


async def test_claims_grant_once_per_session_and_change(grants: Grants) -> None:
    results = await asyncio.gather(*(grants.grant("s", "c1") for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await grants.grant("other", "c1") is True


async def test_a_released_claim_is_granted_again_once(grants: Grants) -> None:
    assert await grants.grant("s", "c1") is True
    await grants.release("s", "c1")
    results = await asyncio.gather(*(grants.grant("s", "c1") for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await grants.grant("s", "c2") is True  # a release touches only its own change
