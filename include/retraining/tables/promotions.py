"""The promotion log: an append-only table of the pipeline database, one row per move of alias `champion`.

MLflow keeps no alias history (mlflow/mlflow#2169), so this table answers which version served
when, and who or what put it there. The table (default `model_promotions`) is made by the
migrations (`tables/migrations`) on first write, on PostgreSQL and SQLite alike.

Rows are never updated or deleted. Times are stored as naive UTC, as every warehouse timestamp
of the project, and handed back tz-aware. `figures` holds the gate's figures as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from include.retraining.tables.migrate import timestamp, upgrade
from include.retraining.warehouse import Database, WarehouseError, naive_utc, quote_name

PROMOTIONS_TABLE = "model_promotions"
SCHEDULER = "scheduler"


class PromotionAction(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    APPROVE = "approve"
    REJECT = "reject"
    AUTO_ROLLBACK = "auto_rollback"
    # A rollback to a version the gate blocked, an approver rejected or that was never champion,
    # run with param `force: true` and a reason: the gate bypassed, on the record as such.
    FORCED_ROLLBACK = "forced_rollback"

    @property
    def is_rollback(self) -> bool:
        return self in (PromotionAction.ROLLBACK, PromotionAction.AUTO_ROLLBACK, PromotionAction.FORCED_ROLLBACK)


@dataclass(frozen=True)
class PromotionRecord:
    """One row: `champion` of `model` moved from `from_version` to `to_version` (or, for
    `reject`, a challenger was refused and nothing moved)."""

    model: str
    to_version: str
    action: PromotionAction
    reason: str
    from_version: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    actor: str = SCHEDULER
    run_url: str = ""
    at: datetime | None = None
    id: int | None = None

    def same_move(self, other: PromotionRecord) -> bool:
        """The same decision by the same run (a retry writing its row again)."""
        return (self.model, self.from_version, self.to_version, self.action, self.run_url) == (
            other.model,
            other.from_version,
            other.to_version,
            other.action,
            other.run_url,
        )


def _table(name: str) -> sa.Table:
    schema, _, table = name.rpartition(".")
    return sa.Table(
        table,
        sa.MetaData(),
        # BIGSERIAL on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("from_version", sa.Text(), nullable=True),
        sa.Column("to_version", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("run_url", sa.Text(), nullable=False),
        sa.Column("at", timestamp(), nullable=False),
        sa.Index(f"ix_{table}_model_id", "model", "id", mysql_length={"model": 191}),
        schema=schema or None,
    )


def _checked(table: str) -> sa.Table:
    quote_name(postgresql.dialect(), table)  # a bad identifier raises WarehouseError
    return _table(table)


def append(db: Database, record: PromotionRecord, *, table: str = PROMOTIONS_TABLE) -> PromotionRecord:
    """Write one row (the table is created when missing); the row as stored, with id and time."""
    stored = replace(
        record, action=PromotionAction(record.action), figures=_plain(record.figures), at=record.at or datetime.now(UTC)
    )
    target = _checked(table)
    values = {
        "model": stored.model,
        "from_version": stored.from_version,
        "to_version": stored.to_version,
        "action": stored.action.value,
        "reason": stored.reason,
        "figures": stored.figures,
        "actor": stored.actor,
        "run_url": stored.run_url,
        "at": naive_utc(stored.at),
    }
    if table == PROMOTIONS_TABLE:
        upgrade(db)
    with db.engine() as engine, engine.begin() as conn:
        target.create(conn, checkfirst=True)  # a log of another name is made from the same definition
        row_id = conn.execute(sa.insert(target).values(**values).returning(target.c.id)).scalar_one()
    return replace(stored, id=int(row_id))


def append_once(db: Database, record: PromotionRecord, *, table: str = PROMOTIONS_TABLE) -> PromotionRecord:
    """Append unless the model's newest row is this same move by this same run (a retry)."""
    newest = latest(db, record.model, table=table)
    if newest is not None and newest.same_move(record):
        return newest
    return append(db, record, table=table)


def history(
    db: Database, model: str, limit: int = 100, *, to_version: str | None = None, table: str = PROMOTIONS_TABLE
) -> list[PromotionRecord]:
    """The model's rows (only those to `to_version` when given), newest first; empty when the
    table does not exist yet."""
    target = _checked(table)
    with db.engine(read_only=True) as engine:
        if not sa.inspect(engine).has_table(target.name, schema=target.schema):
            return []
        query = sa.select(target).where(target.c.model == model)
        if to_version is not None:
            query = query.where(target.c.to_version == to_version)
        query = query.order_by(target.c.id.desc()).limit(limit)
        with engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]


def action_counts(db: Database, model: str, *, table: str = PROMOTIONS_TABLE) -> dict[str, int]:
    """How many rows of each action the model's log holds ({} when the table does not exist yet):
    one grouped count, whatever the log's length."""
    target = _checked(table)
    with db.engine(read_only=True) as engine:
        if not sa.inspect(engine).has_table(target.name, schema=target.schema):
            return {}
        query = (
            sa.select(target.c.action, sa.func.count())
            .where(target.c.model == model)
            .group_by(target.c.action)
            .order_by(target.c.action)
        )
        with engine.connect() as conn:
            return {str(action): int(count) for action, count in conn.execute(query)}


def latest(db: Database, model: str, *, table: str = PROMOTIONS_TABLE) -> PromotionRecord | None:
    """The model's newest row, or None when it has none (an error reading raises)."""
    rows = history(db, model, limit=1, table=table)
    return rows[0] if rows else None


def _record(row: Any) -> PromotionRecord:
    figures = row["figures"]
    if isinstance(figures, str):  # a table created by hand with a TEXT column
        figures = json.loads(figures) if figures else {}
    return PromotionRecord(
        model=row["model"],
        to_version=row["to_version"],
        action=PromotionAction(row["action"]),
        reason=row["reason"],
        from_version=row["from_version"],
        figures=figures or {},
        actor=row["actor"],
        run_url=row["run_url"],
        at=row["at"].replace(tzinfo=UTC) if row["at"].tzinfo is None else row["at"].astimezone(UTC),
        id=int(row["id"]),
    )


def _plain(value: Any) -> Any:
    """JSON-safe figures: numpy scalars as Python ones, NaN and infinities as null, times as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise WarehouseError(
        f"promotion log: figure {value!r} ({type(value).__name__}) is not JSON; pass plain numbers and strings"
    )
