"""Small fakes of the monitor's adapters (warehouse, tracking, registry) and the inputs its steps share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from include.retraining.common.settings import load_settings
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.warehouse import reads as warehouse
from include.retraining.warehouse.sample import SampledWindow

CHURN = Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml"
END = datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
RUN = RunInfo(dag_id="monitor_churn", run_id="r1", window_end=END)


class FakeWarehouse:
    """The monitor's warehouse calls, answered from memory."""

    WarehouseError = warehouse.WarehouseError

    def __init__(self, frame: pd.DataFrame | None = None, last: datetime | None = None, latest: datetime | None = None):
        self.frame, self.last, self.latest = frame, last, latest
        self.columns_read: list[str] = []
        self.windows_read: list[tuple[datetime, datetime]] = []
        self.rows: list[dict] = []

    def read_window(self, url, source, columns, start, end, model=None):
        self.columns_read = list(columns)
        return self.frame

    def read_monitor_window(self, url, config, columns, start, end, max_rows):
        """The rows of (start, end], compared in UTC as the warehouse compares them; never sampled."""
        self.columns_read = list(columns)
        self.windows_read.append((start, end))
        ts = pd.to_datetime(self.frame[config.source.timestamp_column], utc=True)
        rows = self.frame[((ts > start) & (ts <= end)).to_numpy()]
        return SampledWindow(rows, len(rows))

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


class FakeTracker:
    """The tracking adapter of one champion run: its model (or the error loading it raises), its
    metrics and tags, its training rows; monitoring runs are counted, not logged."""

    def __init__(self, model=None, frame: pd.DataFrame | None = None, metrics: dict | None = None):
        self.model, self.frame, self.metrics = model, frame, metrics or {}
        self.logged: list = []

    def load_model(self, uri: str):
        if isinstance(self.model, BaseException):
            raise self.model
        return self.model

    def run_metrics(self, run_id: str) -> dict:
        return self.metrics

    def run_tags(self, run_id: str) -> dict:
        return {}

    def training_frame(self, run_id: str):
        return self.frame

    def download_artifacts(self, run_id: str, artifact_path: str, dst_path=None):
        return None  # a champion logged before reference profiles existed

    def ensure_experiment(self, name: str) -> str:
        return "1"

    def find_finished_run(self, experiment_id: str, tags: dict) -> str | None:
        return None

    def log_run(self, experiment_id: str, run_name: str, record) -> str:
        self.logged.append(record)
        return "mlflow-run"


class FakeRegistry:
    def __init__(self, champion=None):
        self._champion = champion

    def champion(self):
        return self._champion


def context(config, settings=None, url: str = "sqlite://", tracker=None, registry=None) -> StepContext:
    settings = settings or load_settings({"RETRAINING_DATA_DIR": "/nonexistent"})
    return StepContext(config, settings, RUN, url, fake_tracker=tracker or FakeTracker(), fake_registry=registry)
