"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, from one head."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column, select, table

from schema.db import create_engine, session_factory
from schema.events import change_id
from schema.migrate import MIGRATIONS, upgrade
from schema.models import AppliedChange, Base, ChatMessage, Tenant
from schema.store import applied_changes

from .system import Backend


def test_the_migrations_have_one_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


async def test_the_migrated_database_matches_the_models(backend: Backend) -> None:
    engine = create_engine(backend.database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_stored_change_ids_become_message_scoped_and_their_claims_follow_them(backend: Backend) -> None:
    """0004: each message's changes get sha256(message id + "\\n" + JSON); a claim of a content-addressed id
    covers every message that proposed it, and a claim no message proposes stays as it was."""
    engine = create_engine(backend.database_url)
    same, other = {"yaml": "name: same\n"}, {"code": "fn(state => state)"}
    old = {"same": _content_id(same), "other": _content_id(other), "early": "e" * 64}
    try:
        await upgrade(engine, "0003_tenancy")
        async with session_factory(engine).begin() as db:
            db.add(Tenant(id="acme"))
            await db.flush()  # no ORM relationships: each table's rows before those that refer to them
            # the session as 0003 knew it (later revisions add columns the model has)
            sessions = table("chat_sessions", *(column(c) for c in ("id", "tenant_id", "user_id", "title",
                             "context", "revision", "created_at", "updated_at")))  # fmt: skip
            now = datetime.now(UTC)
            await db.execute(sessions.insert().values(id="s1", tenant_id="acme", user_id="alice", title="",
                                                      context="{}", revision=1, created_at=now, updated_at=now))
            for message_id, changes in (("m1", [same]), ("m2", [same, other])):
                db.add(
                    ChatMessage(
                        id=message_id, session_id="s1", role="assistant", status="success",
                        changes=[{"change_id": _content_id(c), "changes": c} for c in changes],
                    )
                )  # fmt: skip
            db.add_all([AppliedChange(session_id="s1", change_id=old[n], user_id="bob") for n in ("same", "early")])
        await upgrade(engine)
        async with session_factory(engine)() as db:
            messages = {m.id: m.changes for m in await db.scalars(select(ChatMessage))}
            applied = await applied_changes(db, "s1")
    finally:
        await engine.dispose()
    assert [c["change_id"] for c in messages["m1"]] == [change_id("m1", same)]
    assert [c["change_id"] for c in messages["m2"]] == [change_id("m2", same), change_id("m2", other)]
    assert applied == {change_id("m1", same), change_id("m2", same), old["early"]}


def _content_id(changes: dict[str, str]) -> str:
    canonical = json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
