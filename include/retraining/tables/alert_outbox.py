"""The alert outbox's table, `alert_outbox`: one row per alert (its dedup key unique), updated
in place as delivery goes on. Every statement touches one row by its unique key, or reads through
an index (pending and due; finished and old), so no operation reads the delivered history.

Made by the migrations (revision 0004). Times are stored as naive UTC and handed back tz-aware.
The delivery policy (what is due, what a result means) is the alerts package's; this module only
runs its statements: an insert that does nothing for a known key, a compare-and-set claim, an
update by key and a bounded prune.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from include.retraining.tables.migrate import timestamp, upgrade
from include.retraining.warehouse import Database, WarehouseError, naive_utc

ALERT_OUTBOX_TABLE = "alert_outbox"
KEY_LENGTH = 255  # a bounded string, not text: MySQL indexes no TEXT column whole
DUE_BATCH = 100  # rows one flush looks at; the rest wait for the next call

_TABLE = sa.Table(
    ALERT_OUTBOX_TABLE,
    sa.MetaData(),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("alert_key", sa.String(KEY_LENGTH), nullable=False),
    sa.Column("alert", sa.JSON(), nullable=False),
    sa.Column("conn_id", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", timestamp(), nullable=True),
    sa.Column("last_attempt_at", timestamp(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=False),
    sa.Column("delivered_to", sa.String(64), nullable=False),
    sa.Column("recorded_at", timestamp(), nullable=False),
    sa.Column("updated_at", timestamp(), nullable=False),
    sa.Index("ux_alert_outbox_alert_key", "alert_key", unique=True),
    sa.Index("ix_alert_outbox_status_next_attempt_at", "status", "next_attempt_at"),  # due
    sa.Index("ix_alert_outbox_status_updated_at", "status", "updated_at"),  # retention
)
_TIMES = ("next_attempt_at", "last_attempt_at", "recorded_at", "updated_at")


class OutboxTable:
    """The outbox's statements on one database; `opened()` keeps one engine for a batch of them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._engine: sa.Engine | None = None

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    @contextmanager
    def opened(self) -> Iterator[None]:
        """One engine (and its pool) for every statement inside the block; re-entrant."""
        if self._engine is not None:
            yield
            return
        with ExitStack() as stack:
            try:
                upgrade(self.db)  # once per process and database
                self._engine = stack.enter_context(self.db.engine())
            except (WarehouseError, sa.exc.SQLAlchemyError, OSError) as exc:
                raise WarehouseError(f"alert outbox in {self.db.display}: {_reason(exc)}") from exc
            try:
                yield
            finally:
                self._engine = None

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self.opened():
            assert self._engine is not None
            try:
                with self._engine.begin() as conn:
                    yield conn
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                raise WarehouseError(f"alert outbox in {self.db.display}: {_reason(exc)}") from exc

    def insert_once(self, values: Mapping[str, Any]) -> bool:
        """Insert a row unless its key is there already (one statement, no race); True if inserted."""
        row = {**_stored(values), "alert_key": stored_key(values["alert_key"])}
        dialect = self.db.dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(_TABLE).values(**row).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite.insert(_TABLE).values(**row).on_conflict_do_nothing()
        elif dialect in ("mysql", "mariadb"):
            statement = mysql.insert(_TABLE).values(**row).prefix_with("IGNORE")
        else:
            return self._insert_unless_known(row)
        with self._begin() as conn:
            return conn.execute(statement).rowcount == 1

    def _insert_unless_known(self, row: dict[str, Any]) -> bool:
        with self._begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(_TABLE).values(**row))
            except sa.exc.IntegrityError:
                return False
        return True

    def get(self, key: str) -> dict[str, Any] | None:
        with self._begin() as conn:
            query = sa.select(_TABLE).where(_TABLE.c.alert_key == stored_key(key))
            row = conn.execute(query).mappings().first()
        return _read(row) if row else None

    def compare_and_set(self, key: str, status: str, attempts: int, values: Mapping[str, Any]) -> bool:
        """Update the row only while it still has `status` and `attempts`: of two workers that saw
        the same row, one changes it and the other changes nothing. True if this one did."""
        where = sa.and_(_TABLE.c.alert_key == stored_key(key), _TABLE.c.status == status, _TABLE.c.attempts == attempts)
        with self._begin() as conn:
            return conn.execute(sa.update(_TABLE).where(where).values(**_stored(values))).rowcount == 1

    def due(self, status: str, now: datetime, limit: int = DUE_BATCH) -> list[tuple[str, int]]:
        """(key, attempts) of rows in `status` whose next attempt is at or before `now`, earliest first."""
        query = (
            sa.select(_TABLE.c.alert_key, _TABLE.c.attempts)
            .where(_TABLE.c.status == status, _TABLE.c.next_attempt_at <= naive_utc(now))
            .order_by(_TABLE.c.next_attempt_at)
            .limit(limit)
        )
        with self._begin() as conn:
            return [(str(key), int(attempts)) for key, attempts in conn.execute(query)]

    def prune(self, statuses: tuple[str, ...], before: datetime) -> int:
        """Delete the rows in `statuses` last changed before `before`; how many."""
        where = sa.and_(_TABLE.c.status.in_(statuses), _TABLE.c.updated_at < naive_utc(before))
        with self._begin() as conn:
            return int(conn.execute(sa.delete(_TABLE).where(where)).rowcount or 0)

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first (for people and tests: it reads the whole table)."""
        with self._begin() as conn:
            return [_read(row) for row in conn.execute(sa.select(_TABLE).order_by(_TABLE.c.id)).mappings()]

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        query = sa.select(_TABLE.c.status, sa.func.count()).group_by(_TABLE.c.status)
        with self._begin() as conn:
            return {str(status): int(n) for status, n in conn.execute(query)}


def stored_key(key: str) -> str:
    """The key as the column holds it: a key longer than the column (a long run id) is cut and
    given a digest of the whole, so two long keys stay apart and the same key maps the same."""
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: KEY_LENGTH - len(digest) - 1]}~{digest}"


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: naive_utc(v) if k in _TIMES and isinstance(v, datetime) else v for k, v in values.items()}


def _read(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.replace(tzinfo=UTC) if k in _TIMES and isinstance(v, datetime) else v for k, v in row.items()}


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return f"{type(orig).__name__}: {text.splitlines()[0]}" if text else type(orig).__name__
