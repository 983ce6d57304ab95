"""Served predictions for tests, in the predictions table's contract (see the brief / README):
written here, as `score_<model>` writes them, so the monitor's side is tested on the exact schema."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

__all__ = ["PREDICTION_COLUMNS", "predictions_for", "write_predictions"]

PREDICTION_COLUMNS = {
    "model": "TEXT",
    "model_version": "TEXT",
    "alias": "TEXT",
    "id": "TEXT",
    "event_time": "TIMESTAMP",
    "score": "DOUBLE PRECISION",
    "interval_start": "TIMESTAMP",
    "interval_end": "TIMESTAMP",
    "scored_at": "TIMESTAMP",
    "run_id": "TEXT",
}


def predictions_for(
    source: pd.DataFrame, version: str, alias: str, scores: np.ndarray, start: datetime, end: datetime, model="churn"
) -> pd.DataFrame:
    """One prediction row per source row (`customer_id`, `snapshot_at`) of the interval (start, end]."""
    return pd.DataFrame(
        {
            "model": model,
            "model_version": version,
            "alias": alias,
            "id": source["customer_id"].astype(str).to_numpy(),
            "event_time": pd.to_datetime(source["snapshot_at"]).to_numpy(),
            "score": np.asarray(scores, dtype="float64"),
            "interval_start": pd.Timestamp(start).tz_localize(None),
            "interval_end": pd.Timestamp(end).tz_localize(None),
            "scored_at": pd.Timestamp(end).tz_localize(None),
            "run_id": f"scheduled__{pd.Timestamp(end):%Y-%m-%d}",
        }
    )


def write_predictions(url: str, frame: pd.DataFrame, table: str = "churn_predictions") -> None:
    """Replace the frame's (model, interval_start, interval_end) rows in one transaction."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    columns = ", ".join(f"{name} {kind}" for name, kind in PREDICTION_COLUMNS.items())
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {table} ({columns})"))
            for (model, start, end), rows in frame.groupby(["model", "interval_start", "interval_end"]):
                conn.execute(
                    sa.text(f"DELETE FROM {table} WHERE model = :m AND interval_start = :s AND interval_end = :e"),
                    {"m": model, "s": start.to_pydatetime(), "e": end.to_pydatetime()},
                )
                rows.to_sql(table, conn, if_exists="append", index=False)
    finally:
        engine.dispose()
