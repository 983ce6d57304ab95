"""`promotion_outcomes`: one row per promotion, the check of what the gate promised against what
happened. Written by the monitor (`include/retraining/monitor/verification.py`) the first time the
labels of a window after the new champion's training data have matured; a rerun of that same
window replaces its row, a later window never does (the verdict is the first out-of-time one).

The table is made by the migrations (`tables/migrations`, revision 0003). Times are naive UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from include.retraining.common import as_utc
from include.retraining.tables.migrate import timestamp, upgrade
from include.retraining.warehouse import Database, naive_utc

OUTCOMES_TABLE = "promotion_outcomes"


@dataclass(frozen=True)
class PromotionOutcomeRow:
    """What `promotion_outcomes` holds for one promotion (the log row `promotion_id`)."""

    promotion_id: int
    model: str
    from_version: str
    to_version: str
    window_start: datetime
    window_end: datetime
    rows: int
    metric: str
    promised_difference: float | None
    promised_lower: float | None
    realized_difference: float
    realized_lower: float
    realized_upper: float
    confidence: float
    method: str
    bound_held: bool | None
    verdict: str
    airflow_run_id: str
    verified_at: datetime


def outcomes_table() -> sa.Table:
    """The one definition the rows are written against; a new column is a new migration."""
    floats = ("promised_difference", "promised_lower", "realized_difference", "realized_lower", "realized_upper")
    return sa.Table(
        OUTCOMES_TABLE,
        sa.MetaData(),
        sa.Column("promotion_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("from_version", sa.Text(), nullable=False),
        sa.Column("to_version", sa.Text(), nullable=False),
        sa.Column("window_start", timestamp(), nullable=False),
        sa.Column("window_end", timestamp(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Double(), nullable=name.startswith("promised")) for name in floats),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("bound_held", sa.Boolean(), nullable=True),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("airflow_run_id", sa.Text(), nullable=False),
        sa.Column("verified_at", timestamp(), nullable=False),
        sa.Index(f"ix_{OUTCOMES_TABLE}_model_promotion_id", "model", "promotion_id", mysql_length={"model": 191}),
    )


def _values(row: PromotionOutcomeRow) -> dict[str, Any]:
    values = asdict(row)
    for key in ("window_start", "window_end", "verified_at"):
        values[key] = naive_utc(values[key])
    return values


def _row(values: Any) -> PromotionOutcomeRow:
    data = dict(values)
    for key in ("window_start", "window_end", "verified_at"):
        moment = data[key]
        data[key] = as_utc(moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment)))
    data["bound_held"] = None if data["bound_held"] is None else bool(data["bound_held"])
    return PromotionOutcomeRow(**data)


def outcome_of(db: Database, promotion_id: int) -> PromotionOutcomeRow | None:
    """The row of one promotion, None when it has not been verified yet."""
    table = outcomes_table()
    if not db.has_table(OUTCOMES_TABLE):  # a schema before revision 0003: nothing verified yet
        return None
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        found = conn.execute(sa.select(table).where(table.c.promotion_id == promotion_id)).mappings().first()
    return _row(found) if found is not None else None


def record_outcome(db: Database, row: PromotionOutcomeRow) -> PromotionOutcomeRow:
    """Write the promotion's row unless one from another window is there (that verdict stands);
    the row that stands."""
    upgrade(db)
    table = outcomes_table()
    with db.engine() as engine, engine.begin() as conn:
        found = conn.execute(sa.select(table).where(table.c.promotion_id == row.promotion_id)).mappings().first()
        if found is not None and _row(found).window_end != row.window_end:
            return _row(found)
        conn.execute(table.delete().where(table.c.promotion_id == row.promotion_id))
        conn.execute(table.insert().values(**_values(row)))
    return row


def read_outcomes(db: Database, model: str, limit: int = 100) -> list[PromotionOutcomeRow]:
    """The model's verified promotions, newest promotion first; empty before the first (or before
    the schema has the table: a read never migrates)."""
    table = outcomes_table()
    if not db.has_table(OUTCOMES_TABLE):
        return []
    query = sa.select(table).where(table.c.model == model).order_by(table.c.promotion_id.desc()).limit(limit)
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return [_row(found) for found in conn.execute(query).mappings()]
