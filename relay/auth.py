"""HS256 JWT tokens: `sub` (user), `tenant`, `role` (member|admin), `exp`, and an optional display `name`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

ROLES = ("member", "admin")
MAX_ID_CHARS = 200  # user and tenant ids, as stored


class InvalidToken(Exception):
    """Missing, malformed, badly signed or expired; the message says which."""

    status = 401


class UnusableClaims(InvalidToken):
    """A valid token whose claims this service cannot store (bad input, not bad credentials)."""

    status = 400


@dataclass(frozen=True)
class Claims:
    user: str
    tenant: str
    role: str
    name: str | None = None  # a display name, shown in presence, when the host application gives one

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def mint(
    secret: str,
    user: str,
    tenant: str,
    role: str = "member",
    ttl_seconds: int = 24 * 3600,
    name: str | None = None,
) -> str:
    """A token; `name`: the person's display name, shown wherever the web app shows them."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    claims: dict[str, object] = {"sub": user, "tenant": tenant, "role": role, "exp": int(time.time()) + ttl_seconds}
    if name:
        claims["name"] = name[:MAX_ID_CHARS]
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_until(secret: str, token: str | None) -> tuple[Claims, float]:
    """The token's claims and its `exp` (what a cache of verified tokens keeps them until)."""
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
    for name, value in (("sub", user), ("tenant", tenant)):
        if len(value) > MAX_ID_CHARS:
            raise UnusableClaims(f"The token's {name} claim is longer than {MAX_ID_CHARS} characters.")
    name = claims.get("name")
    display = name[:MAX_ID_CHARS] if isinstance(name, str) and name else None
    return Claims(user, tenant, role, display), float(claims["exp"])
