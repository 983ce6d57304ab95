"""The pipeline database's schema, kept by Alembic: `upgrade` brings `model_monitoring` and
`model_promotions` to the latest revision (tables/migrations/versions), adopting the tables
written before migrations existed, without losing a row.

Every task that uses the pipeline database calls it first (once per process and database), so a
new release upgrades the schema on its first run; concurrent callers wait on one named lock in
that database (`locking.named_lock`) and the second finds nothing to do.
Alembic's version table is `retraining_alembic_version`, so the database may hold another
application's Alembic history. The predictions tables (one per model, named by its file) have no
revisions: they are created on first write from their definition (`include.retraining.predictions`), which adds a
column they lack with `add_column`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import mysql

from include.retraining.locking import named_lock
from include.retraining.warehouse import Database, WarehouseError

VERSION_TABLE = "retraining_alembic_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA_LOCK = "schema-upgrade"
# A migration may rewrite a large table; a waiter gives up (and its task retries) after this.
_LOCK_TIMEOUT_S = 3600.0

log = logging.getLogger(__name__)
_current: set[str] = set()


def timestamp() -> sa.types.TypeEngine:
    """A naive UTC time to the microsecond on every backend: MySQL's DATETIME keeps whole seconds
    unless given a precision, and a time read back must equal the one written (retries compare)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The latest revision this release ships."""
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def revision(db: Database) -> str | None:
    """The database's revision; None for one never migrated (new, or written before migrations)."""
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(db: Database) -> None:
    """Bring the pipeline's tables to `head()`; once per process and database (a no-op after)."""
    if db.display in _current:
        return
    try:
        with named_lock(db, SCHEMA_LOCK, _LOCK_TIMEOUT_S), db.engine() as engine, engine.connect() as conn:
            before = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
            if before != head():
                config = _config()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                log.info("pipeline database %s: schema upgraded from %s to %s", db.display, before or "none", head())
            conn.commit()
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise WarehouseError(
            f"the pipeline database {db.display} refused the upgrade of the pipeline's tables ({reason}); give its "
            "account the right to create tables there, or point the Airflow connection retraining_db at a "
            "database it may write (docs/deployment.md)"
        ) from exc
    _current.add(db.display)


def add_column(db: Database, name: str, column: sa.Column) -> None:
    """Add `column` to table `name` (`schema.table` or `table`) in the database's own DDL dialect;
    an error raises, unless another writer added the column meanwhile."""
    from alembic.operations import Operations

    schema, _, table = name.rpartition(".")
    try:
        with db.engine() as engine, engine.begin() as conn:
            Operations(MigrationContext.configure(conn)).add_column(table, column, schema=schema or None)
    except sa.exc.DBAPIError:
        if column.name not in db.column_types(name):
            raise
