"""The pipeline database's schema, kept by Alembic: `upgrade` brings `model_monitoring` and
`model_promotions` to the latest revision (tables/migrations/versions), adopting the tables
written before migrations existed, without losing a row.

Every task that uses the pipeline database calls it first (once per process and database), so a
new release upgrades the schema on its first run; concurrent callers wait on one lock (a
PostgreSQL advisory lock, a file lock beside a SQLite file) and the second finds nothing to do.
Alembic's version table is `retraining_alembic_version`, so the database may hold another
application's Alembic history. The predictions tables (one per model, named by its file) have no
revisions: they are created on first write from their definition (`predictions.py`), which adds a
column they lack with `add_column`.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from include.retraining.warehouse import Database, WarehouseError

VERSION_TABLE = "retraining_alembic_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant both callers agree on; it names the lock in pg_locks.
_PG_LOCK_KEY = 0x7265747261696E  # "retrain"

log = logging.getLogger(__name__)
_current: set[str] = set()


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
        with db.engine() as engine, _locked(db, engine) as conn:
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


@contextmanager
def _locked(db: Database, engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection that alone may migrate: PostgreSQL's advisory lock, or a file lock beside a
    SQLite file; other backends rely on each revision checking what exists."""
    with engine.connect() as conn:
        if db.is_postgres:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
            return
        path = engine.url.database if db.backend == "sqlite" else None
        if not path or path == ":memory:":
            yield conn
            return
        try:
            handle = open(f"{path}.migrate.lock", "a+")  # noqa: SIM115 - closed below
        except OSError:  # a folder nobody may write: the database refuses the upgrade next, by name
            yield conn
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield conn
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


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
