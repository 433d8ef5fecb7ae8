"""HS256 JWT tokens: `sub` (user), `tenant`, `role` (member|admin), `exp`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

ROLES = ("member", "admin")


class InvalidToken(Exception):
    """Missing, malformed, badly signed or expired; the message says which."""


@dataclass(frozen=True)
class Claims:
    user: str
    tenant: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def mint(secret: str, user: str, tenant: str, role: str = "member", ttl_seconds: int = 24 * 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    claims = {"sub": user, "tenant": tenant, "role": role, "exp": int(time.time()) + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str | None) -> Claims:
    if not token:
        raise InvalidToken("no token given")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "tenant", "exp"]})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    user, tenant, role = claims.get("sub"), claims.get("tenant"), claims.get("role", "member")
    if not isinstance(user, str) or not user or not isinstance(tenant, str) or not tenant:
        raise InvalidToken("invalid token: sub and tenant must be non-empty strings")
    if role not in ROLES:
        raise InvalidToken(f"invalid token: role must be one of {', '.join(ROLES)}")
    return Claims(user, tenant, role)
