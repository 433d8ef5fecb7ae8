"""Alembic environment: always run through `schema.migrate`, which lends a connection."""

from alembic import context

from schema.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
