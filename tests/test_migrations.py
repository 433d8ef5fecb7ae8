"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, from one head."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from schema.db import create_engine
from schema.migrate import MIGRATIONS, upgrade
from schema.models import Base

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
