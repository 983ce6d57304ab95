"""The pipeline database's table `model_monitoring`: one row per model and monitoring interval.

The rows are the monitor's history and its trigger ledger: a retrain decision
is written as `retrain_pending` and becomes `retrain` only once its drift event was emitted, so
the cooldown (`last_trigger_at`) counts emitted triggers only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from include.retraining.common import as_utc
from include.retraining.drift import MonitorOutcome
from include.retraining.tables.migrate import timestamp, upgrade
from include.retraining.warehouse import Database, naive_utc

MONITORING_TABLE = "model_monitoring"
# The decisions a row records (drift.MonitorOutcome): a trigger is `retrain` once its event was emitted.
RETRAIN, PENDING = MonitorOutcome.RETRAIN.value, MonitorOutcome.RETRAIN_PENDING.value
_FLOAT_COLUMNS = ("metric_current", "performance_drop", "metric_holdout")
# Added with served-prediction monitoring; NULL when nothing was served (include.retraining.monitor.served).
_SERVED_FLOATS = ("label_coverage", "challenger_metric", "champion_shadow_metric")


def monitoring_table() -> sa.Table:
    """`model_monitoring` as the migrations leave it (tables/migrations): the one definition the
    rows are written against. A new column is a new migration."""
    columns: list[tuple[str, sa.types.TypeEngine]] = [
        ("model", sa.Text()),
        ("window_start", timestamp()),
        ("window_end", timestamp()),
        ("airflow_run_id", sa.Text()),
        ("champion_version", sa.Text()),
        ("rows_current", sa.BigInteger()),
        ("rows_matured", sa.BigInteger()),
        ("rows_current_read", sa.BigInteger()),
        ("rows_matured_read", sa.BigInteger()),
        ("sampled", sa.Boolean()),
        ("drift_share", sa.Double()),
        ("drifted_columns", sa.Text()),
        ("prediction_psi", sa.Double()),
        ("metric", sa.Text()),
        ("metric_holdout", sa.Double()),
        ("metric_current", sa.Double()),
        ("performance_drop", sa.Double()),
        ("drift_detected", sa.Boolean()),
        ("decision", sa.Text()),
        ("reasons", sa.Text()),
        ("report_path", sa.Text()),
        ("prediction_source", sa.Text()),
        ("performance_source", sa.Text()),
        ("rows_served", sa.BigInteger()),
        ("label_coverage", sa.Double()),
        ("challenger_version", sa.Text()),
        ("challenger_metric", sa.Double()),
        ("champion_shadow_metric", sa.Double()),
        ("served_figures", sa.Text()),
        ("drift_signature", sa.Text()),
        ("mlflow_run_id", sa.Text()),
    ]
    required = {"model", "window_end"}  # what a row is found by
    return sa.Table(
        MONITORING_TABLE,
        sa.MetaData(),
        *(sa.Column(name, kind, nullable=name not in required) for name, kind in columns),
        # Every history read and every replace selects by model and window end.
        sa.Index(f"ix_{MONITORING_TABLE}_model_window_end", "model", "window_end", mysql_length={"model": 191}),
    )


def latest_monitoring_row(db: Database, model: str) -> dict[str, Any] | None:
    """The model's latest `model_monitoring` row as a dict; None when nothing was recorded yet."""
    with db.engine(read_only=True) as engine:
        if not sa.inspect(engine).has_table(MONITORING_TABLE):
            return None
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(f"SELECT * FROM {MONITORING_TABLE} WHERE model = :model ORDER BY window_end DESC LIMIT 1"),
                {"model": model},
            ).first()
    return dict(row._mapping) if row is not None else None


def mark_trigger_emitted(db: Database, model: str, window_end: datetime) -> int:
    """Turn the interval's `retrain_pending` row into `retrain` once its drift event is emitted;
    the number of rows matched (a second call matches the row it already marked; 0: no retrain
    decision recorded for that interval)."""
    with db.engine() as engine, engine.begin() as conn:
        result = conn.execute(
            sa.text(
                f"UPDATE {MONITORING_TABLE} SET decision = :retrain "
                "WHERE model = :model AND window_end = :end AND decision IN (:pending, :retrain)"
            ).bindparams(sa.bindparam("end", type_=sa.DateTime())),
            {"model": model, "end": naive_utc(window_end), "retrain": RETRAIN, "pending": PENDING},
        )
        return int(result.rowcount or 0)


def replace_monitoring_row(db: Database, row: dict[str, Any]) -> None:
    """Write one `model_monitoring` row, replacing the row of the same model and interval end.

    An emitted trigger stays recorded: a rerun of its interval replaces the figures, but a row
    that says `retrain` keeps saying so (the cooldown counts it), with the rerun's reasons added.
    """
    if row["decision"] != RETRAIN and _decision(db, row["model"], row["window_end"]) == RETRAIN:
        row = {
            **row,
            "decision": RETRAIN,
            "reasons": f"drift event emitted by an earlier run; rerun: {row['reasons']}",
        }
    floats = [c for c in (*_FLOAT_COLUMNS, *_SERVED_FLOATS) if c in row]
    frame = pd.DataFrame([row]).astype(dict.fromkeys(floats, "float64"))
    unknown = set(frame.columns) - {c.name for c in monitoring_table().columns}
    if unknown:  # a column the schema lacks needs a migration (tables/migrations), never an ad hoc ALTER
        raise ValueError(f"model_monitoring has no column(s) {sorted(unknown)}: add them in a migration")
    upgrade(db)
    params = {"model": row["model"], "end": row["window_end"]}
    db.replace_rows(MONITORING_TABLE, frame, "model = :model AND window_end = :end", params)


@dataclass(frozen=True)
class MonitoringHistory:
    """What a monitoring decision reads of the model's history, in one read: the latest rows
    before this window (oldest first, as the trigger policy and the degradation alerts read them:
    window_end UTC-aware, the primary metric's name and matured-label value,
    drift_signature None for rows from before it was recorded), the latest emitted trigger before
    it (the cooldown) and the newest window monitored at all (a later one makes this one stale)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    last_trigger_at: datetime | None = None
    latest_end: datetime | None = None


def read_history(db: Database, model: str, before: datetime, limit: int) -> MonitoringHistory:
    """The model's `MonitoringHistory` before `before` (empty when nothing was recorded yet)."""
    bounded = sa.bindparam("before", type_=sa.DateTime())
    params = {"model": model, "before": naive_utc(before), "limit": limit, "retrain": RETRAIN}
    with db.engine() as engine:
        if not sa.inspect(engine).has_table(MONITORING_TABLE):
            return MonitoringHistory()
        names = {c["name"] for c in sa.inspect(engine).get_columns(MONITORING_TABLE)}
        # A table from before a column was recorded reads it as NULL.
        later = ", ".join(c if c in names else f"NULL AS {c}" for c in ("metric", "metric_current", "drift_signature"))
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    f"SELECT window_end, champion_version, decision, drift_detected, {later} "
                    f"FROM {MONITORING_TABLE} WHERE model = :model AND window_end < :before "
                    "ORDER BY window_end DESC LIMIT :limit"
                ).bindparams(bounded),
                params,
            ).mappings()
            found = [{**row, "window_end": _moment(row["window_end"])} for row in rows]
            last, latest = conn.execute(
                sa.text(
                    "SELECT max(CASE WHEN decision = :retrain AND window_end < :before THEN window_end END), "
                    f"max(window_end) FROM {MONITORING_TABLE} WHERE model = :model"
                ).bindparams(bounded),
                params,
            ).one()
    return MonitoringHistory(found[::-1], _moment(last), _moment(latest))


def _moment(value: Any) -> datetime | None:
    return as_utc(pd.Timestamp(value).to_pydatetime()) if value is not None else None


def read_monitoring(db: Database, model: str) -> pd.DataFrame:
    """The model's `model_monitoring` rows by interval end; empty when nothing was recorded yet."""
    with db.engine(read_only=True) as engine:
        if not sa.inspect(engine).has_table(MONITORING_TABLE):
            return pd.DataFrame()
        with engine.connect() as conn:
            return pd.read_sql(
                sa.text(f"SELECT * FROM {MONITORING_TABLE} WHERE model = :model ORDER BY window_end"),
                conn,
                params={"model": model},
            )


def _decision(db: Database, model: str, window_end: datetime) -> str | None:
    with db.engine() as engine:
        if not sa.inspect(engine).has_table(MONITORING_TABLE):
            return None
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    f"SELECT decision FROM {MONITORING_TABLE} WHERE model = :model AND window_end = :end"
                ).bindparams(sa.bindparam("end", type_=sa.DateTime())),
                {"model": model, "end": naive_utc(window_end)},
            ).scalar()
