"""Small fakes of the monitor's adapters (warehouse, champion) and the inputs its steps share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from include.retraining import warehouse
from include.retraining.runs import RunInfo

CHURN = Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml"
END = datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
RUN = RunInfo(dag_id="monitor_churn", run_id="r1", window_end=END)


class FakeWarehouse:
    """The monitor's warehouse calls, answered from memory."""

    WarehouseError = warehouse.WarehouseError

    def __init__(self, frame: pd.DataFrame | None = None, last: datetime | None = None, latest: datetime | None = None):
        self.frame, self.last, self.latest = frame, last, latest
        self.columns_read: list[str] = []
        self.rows: list[dict] = []

    def read_window(self, url, source, columns, start, end, model=None):
        self.columns_read = list(columns)
        return self.frame

    def last_trigger_at(self, url, model, before):
        return self.last

    def latest_monitoring_end(self, url, model):
        return self.latest

    def replace_monitoring_row(self, url, row):
        self.rows.append(row)


class FakeModel:
    """A champion fitted on `features`: scores the first feature, refuses any other column set."""

    def __init__(self, features: list[str]):
        self.feature_names_in_ = np.array(features, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if list(frame.columns) != list(self.feature_names_in_):
            raise ValueError(f"columns are missing: {set(self.feature_names_in_) - set(frame.columns)}")
        p = np.clip(frame.iloc[:, 0].to_numpy(dtype=float) / 100, 0, 1)
        return np.column_stack([1 - p, p])


def frame(timestamps: pd.Series, columns: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = {"snapshot_at": timestamps, "churned": rng.integers(0, 2, len(timestamps))}
    for column in columns:
        data[column] = rng.normal(50, 10, len(timestamps)) if column != "contract" else "one_year"
    return pd.DataFrame(data)


def ref(features: list[str]) -> dict:
    return {"version": "3", "run_id": "x", "snapshot": "", "holdout_metric": 0.8, "features": features}
