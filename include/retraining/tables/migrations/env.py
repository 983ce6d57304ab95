"""Alembic's environment for the pipeline's own tables: it runs on the connection
`tables.migrate.upgrade` hands it (under that function's lock), never on a URL of its own."""

from __future__ import annotations

from alembic import context

from include.retraining.tables.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
