"""Bearer tokens already verified, kept until they expire: a client sends the same token with every request.

Checking an HS256 signature and the claims costs more CPU than the rest of a request's
authentication; a token's claims cannot change, so one check per token per `exp` is enough.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from .auth import Claims, InvalidToken, verify_until

MAX_ENTRIES = 10_000


class VerifiedTokens:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.clock = clock
        self.entries: dict[str, tuple[float, Claims]] = {}  # token → (its exp, its claims)

    def claims(self, token: str) -> Claims:
        """The token's claims; raises `InvalidToken` as `relay.auth.verify_until` does (an expired one too)."""
        known = self.entries.get(token)
        if known is not None:
            if known[0] > self.clock():
                return known[1]
            del self.entries[token]
            raise InvalidToken("token expired")
        claims, expiry = verify_until(self.secret, token)
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[token] = (expiry, claims)
        return claims


@functools.cache
def verified_tokens(secret: str) -> VerifiedTokens:
    """The process's tokens for `secret`, shared by every endpoint (the HTTP API's and the AI SDK's)."""
    return VerifiedTokens(secret)

