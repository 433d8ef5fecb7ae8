"""The HTTP API checks a bearer token's signature once, and still refuses it once it expires."""

from __future__ import annotations

import time

import pytest

from relay import verified_tokens
from relay.auth import Claims, InvalidToken, mint
from relay.verified_tokens import VerifiedTokens

SECRET = "a-secret-long-enough-for-hs256-signatures"


def counted_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signatures are checked from now on, in order."""
    checks: list[str] = []
    real = verified_tokens.verify_until

    def counted(secret: str, token: str) -> tuple[Claims, float]:
        checks.append(token)
        return real(secret, token)

    monkeypatch.setattr(verified_tokens, "verify_until", counted)
    return checks


def test_a_token_is_verified_once_and_its_claims_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = counted_verifications(monkeypatch)
    tokens = VerifiedTokens(SECRET)
    token = mint(SECRET, "alice", "acme", "admin")
    first, second = tokens.claims(token), tokens.claims(token)
    assert first == second and (first.user, first.tenant, first.is_admin) == ("alice", "acme", True)
    assert checks == [token]


def test_a_token_accepted_before_is_refused_once_it_expires() -> None:
    now = [time.time()]
    tokens = VerifiedTokens(SECRET, clock=lambda: now[0])
    token = mint(SECRET, "alice", "acme", ttl_seconds=60)
    tokens.claims(token)
    now[0] += 61
    with pytest.raises(InvalidToken):
        tokens.claims(token)


def test_a_token_signed_with_another_secret_is_refused_every_time() -> None:
    tokens = VerifiedTokens(SECRET)
    forged = mint("another-secret-long-enough-for-hs256-signatures", "alice", "acme")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.claims(forged)
