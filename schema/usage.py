"""Token usage: what a generation used (as reported, or estimated), and the monthly totals in SQL.

The totals are added to inside the transaction that ends the generation, so
a generation is counted exactly when its final message is written.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .models import TenantUsage, UserUsage, utcnow

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and code


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def generation_usage(reported: dict[str, Any], prompt_chars: int, answer: str) -> dict[str, Any]:
    """`{input_tokens, output_tokens}` from what the upstream reported (Anthropic/apollo or OpenAI names);
    where it reported nothing usable, an estimate from the text (`prompt_chars`: the characters sent
    upstream, counted without joining them), flagged `estimated: true`."""
    input_tokens = _count(reported.get("input_tokens"))
    output_tokens = _count(reported.get("output_tokens"))
    if input_tokens is None:
        input_tokens = _count(reported.get("prompt_tokens"))
    if output_tokens is None:
        output_tokens = _count(reported.get("completion_tokens"))
    if input_tokens is not None and output_tokens is not None:
        return {"input_tokens": input_tokens, "output_tokens": output_tokens}
    return {
        "input_tokens": input_tokens if input_tokens is not None else -(-prompt_chars // CHARS_PER_TOKEN),
        "output_tokens": output_tokens if output_tokens is not None else estimate_tokens(answer),
        "estimated": True,
    }


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def resets_at(month: str) -> datetime:
    """The first instant of the month after `month`, when its limit no longer applies."""
    year, number = (int(part) for part in month.split("-"))
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


ADDED = ("input_tokens", "output_tokens", "generations")
USAGE_KEYS = ((TenantUsage, ("tenant_id", "month")), (UserUsage, ("tenant_id", "month", "user_id")))


@functools.cache
def _upserts(dialect_name: str) -> list[tuple[Any, tuple[str, ...]]]:
    """The tenant's and the user's upsert, built once per dialect (values bound when run), with their keys."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    upserts = []
    for model, keys in USAGE_KEYS:
        table = model.__table__  # type: ignore[attr-defined]
        insert = dialect.insert(table).values({name: bindparam(name) for name in (*keys, *ADDED)})
        added = {name: table.c[name] + insert.excluded[name] for name in ADDED}
        upserts.append((insert.on_conflict_do_update(index_elements=list(keys), set_=added), keys))
    return upserts


def add_usage(
    connection: Connection,
    tenant_id: str,
    user_id: str,
    month: str,
    input_tokens: int,
    output_tokens: int,
    generations: int = 1,
) -> None:
    """Add to the month's totals of a tenant and user (an upsert each, in `connection`'s transaction)."""
    values = {"tenant_id": tenant_id, "user_id": user_id, "month": month, "input_tokens": input_tokens,
              "output_tokens": output_tokens, "generations": generations}  # fmt: skip
    for upsert, keys in _upserts(connection.dialect.name):
        connection.execute(upsert, {name: values[name] for name in (*keys, *ADDED)})


def count_generation(
    connection: Connection, tenant_id: str, user_id: str, usage: dict[str, Any], replaced: dict[str, Any] | None = None
) -> None:
    """Add a generation that just ended to its month's totals, in the transaction of its final write.

    `user_id`: the asking user's (the assistant message's; the session owner's in older rows).
    `replaced`: the usage of an earlier final record this one replaces, which was counted already.
    """
    before = replaced or {}
    tokens = [int(usage.get(key, 0)) - int(before.get(key, 0)) for key in ("input_tokens", "output_tokens")]
    add_usage(connection, tenant_id, user_id, month_of(utcnow()), *tokens, 0 if replaced is not None else 1)


async def month_total(db: AsyncSession, tenant_id: str, month: str) -> int:
    row = await db.get(TenantUsage, (tenant_id, month))
    return 0 if row is None else row.input_tokens + row.output_tokens


async def report(db: AsyncSession, tenant_id: str, month: str, monthly_tokens: int | None) -> dict[str, Any]:
    """`GET /api/tenant/usage`."""
    total = await db.get(TenantUsage, (tenant_id, month))
    users = await db.scalars(
        select(UserUsage).where(UserUsage.tenant_id == tenant_id, UserUsage.month == month).order_by(UserUsage.user_id)
    )
    input_tokens, output_tokens = (total.input_tokens, total.output_tokens) if total else (0, 0)
    used = input_tokens + output_tokens
    return {
        "month": month,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": used,
        "generations": total.generations if total else 0,
        "limit": {
            "monthly_tokens": monthly_tokens,
            "remaining": None if monthly_tokens is None else max(monthly_tokens - used, 0),
            "resets_at": resets_at(month).isoformat(),
        },
        "by_user": [_user(u) for u in users],
    }


def _user(row: UserUsage) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "generations": row.generations,
    }
