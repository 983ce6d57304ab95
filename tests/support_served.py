"""Served predictions for tests, in the predictions table's contract, written by `score_<model>`'s
own writer (`predictions_table.replace_interval`), so the monitor reads exactly what scoring writes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

__all__ = ["predictions_for", "write_predictions"]


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
    """Replace each (model, interval_start, interval_end) of the frame, every alias at once, as a
    scoring run does."""
    from include.retraining.common.windows import Window
    from include.retraining.tables.predictions import replace_interval

    for (model, start, end), rows in frame.groupby(["model", "interval_start", "interval_end"]):
        interval = Window(start.to_pydatetime().replace(tzinfo=UTC), end.to_pydatetime().replace(tzinfo=UTC))
        replace_interval(url, table, rows.reset_index(drop=True), model, interval)
