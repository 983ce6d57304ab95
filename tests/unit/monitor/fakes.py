"""What the monitor's step tests share: small fakes of the champion, the tracking and registry
adapters and of a model's source, and builders of the contracts the steps hand each other.

The pipeline's own tables (`model_monitoring`, the predictions table) are always a real SQLite
database: `FakeWarehouse` is a real `Warehouse` whose source reads alone are answered from memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.common import Settings, Window, load_settings
from include.retraining.config import ModelConfig, SourceConfig
from include.retraining.drift import ColumnDrift, ColumnEvidence, DriftDecision, DriftEvidence, DriftSummary
from include.retraining.monitor import CurrentWindow, DriftResult, MonitoringResults, Performance, Reference
from include.retraining.runs import RunInfo, StepContext
from include.retraining.warehouse import SampledWindow, SourceTimestamps, Warehouse

CHURN = Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml"
END = datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
RUN = RunInfo(dag_id="monitor_churn", run_id="r1", window_end=END)
FEATURES = ["tenure_months", "monthly_charges", "support_tickets_90d", "contract", "payment_method", "region"]


class FakeWarehouse(Warehouse):
    """A model's source answered from `frame`, its rows of (start, end] compared in UTC as
    PostgreSQL compares a `timestamptz` (naive stamps are UTC), never sampled; the pipeline's
    tables live in the real SQLite database behind `url`. Records the columns and windows read."""

    def __init__(self, url: str, frame: pd.DataFrame) -> None:
        super().__init__(url)
        self.frame = frame
        self.columns_read: list[str] = []
        self.windows_read: list[tuple[datetime, datetime]] = []

    def read_window(
        self, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, *, model: str
    ) -> pd.DataFrame:
        self.columns_read = list(columns)
        self.windows_read.append((start, end))
        stamps = pd.to_datetime(self.frame[source.timestamp_column], utc=True)
        return self.frame.loc[((stamps > start) & (stamps <= end)).to_numpy(), list(columns)].reset_index(drop=True)

    def check_timestamps(self, config: ModelConfig) -> SourceTimestamps:
        return SourceTimestamps(len(self.frame), int(self.frame[config.source.timestamp_column].isna().sum()))

    def read_monitor_window(
        self, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime, max_rows: int
    ) -> SampledWindow:
        rows = self.read_window(config.source, columns, start, end, model=config.name)
        return SampledWindow(rows, len(rows))


class FakeModel:
    """A champion fitted on `features`: scores the first feature / 100, refuses any other column set."""

    def __init__(self, features: list[str]):
        self.feature_names_in_ = np.array(features, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if list(frame.columns) != list(self.feature_names_in_):
            raise ValueError(f"columns are missing: {set(self.feature_names_in_) - set(frame.columns)}")
        p = np.clip(frame.iloc[:, 0].to_numpy(dtype=float) / 100, 0, 1)
        return np.column_stack([1 - p, p])


class FakeTracker:
    """The tracking adapter of one champion run: its model (or the error loading it raises), its
    metrics and tags, its training rows; monitoring runs are kept, not logged."""

    def __init__(self, model: Any = None, frame: pd.DataFrame | None = None, metrics: dict | None = None):
        self.model, self.frame, self.metrics = model, frame, metrics or {}
        self.logged: list = []

    def load_model(self, uri: str) -> Any:
        if isinstance(self.model, BaseException):
            raise self.model
        return self.model

    def run_metrics(self, run_id: str) -> dict:
        return self.metrics

    def run_tags(self, run_id: str) -> dict:
        return {}

    def training_frame(self, run_id: str) -> pd.DataFrame | None:
        return self.frame

    def download_artifacts(self, run_id: str, artifact_path: str, dst_path: str | None = None) -> None:
        return None  # a champion logged before reference profiles existed

    def ensure_experiment(self, name: str) -> str:
        return "1"

    def find_finished_run(self, experiment_id: str, tags: dict) -> str | None:
        return None

    def log_run(self, experiment_id: str, run_name: str, record: Any) -> str:
        self.logged.append(record)
        return "mlflow-run"


class FakeRegistry:
    def __init__(self, champion: Any = None):
        self._champion = champion

    def champion(self) -> Any:
        return self._champion


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'warehouse.db'}"


def context(
    config: ModelConfig,
    settings: Settings | None = None,
    *,
    warehouse: Warehouse | str | None = None,
    tracker: Any = None,
    registry: Any = None,
    run: RunInfo = RUN,
) -> StepContext:
    """A step context as production builds it (the source and the pipeline's tables in one
    database), with the fakes given; a URL is opened as a real `Warehouse`. Without one, an
    in-memory SQLite database that holds nothing (each connection starts empty)."""
    settings = settings or load_settings({"RETRAINING_DATA_DIR": "/nonexistent"})
    if not isinstance(warehouse, Warehouse):
        warehouse = Warehouse(warehouse or "sqlite://")
    return StepContext(config, settings, run, tracker or FakeTracker(), registry, warehouse, warehouse)


def frame(timestamps: pd.Series, columns: list[str], seed: int = 0) -> pd.DataFrame:
    """Source rows at `timestamps`: an id, a random label, numbers ~ N(50, 10), `contract` one_year."""
    rng = np.random.default_rng(seed)
    data = {
        "customer_id": [f"C{i}" for i in range(len(timestamps))],
        "snapshot_at": timestamps,
        "churned": rng.integers(0, 2, len(timestamps)),
    }
    for column in columns:
        data[column] = rng.normal(50, 10, len(timestamps)) if column != "contract" else "one_year"
    return pd.DataFrame(data)


def ref(features: list[str], snapshot: str = "", holdout: float | None = 0.8) -> Reference:
    return Reference("3", "x", snapshot, holdout, list(features))


WINDOW = Window(END - timedelta(days=7), END)


def current_window(**changes: Any) -> CurrentWindow:
    """The window ending END, read whole (900 rows now, 800 matured), with `changes`."""
    cur = CurrentWindow(WINDOW, WINDOW, "", "", 900, 800, 900, 800)
    return replace(cur, **changes)


def windows(config: ModelConfig, folder: Path, reference_columns: list[str]) -> tuple[Reference, CurrentWindow]:
    """A champion reference snapshot with `reference_columns` and a current/matured window with
    every configured feature, as Parquet files the steps read."""
    stamps = pd.Series(pd.date_range("2026-03-01", periods=1200, freq="10min"))
    reference_path, current_path = folder / "reference.parquet", folder / "current.parquet"
    frame(stamps, reference_columns).to_parquet(reference_path)
    frame(stamps, config.features.columns, seed=1).to_parquet(current_path)
    cur = current_window(current=str(current_path), matured=str(current_path))
    return ref(reference_columns, str(reference_path)), replace(cur, rows_current=1200, rows_matured=1200)


def drift_result(drifted: list[str], columns: list[str] = FEATURES, **changes: Any) -> DriftResult:
    """The drift of `columns` with `drifted` shifted by half a standard deviation: in Evidently's
    summary and in the trigger policy's evidence (equal importance), 5000 rows each side."""
    summary = DriftSummary.of(
        {
            name: ColumnDrift(
                name, "numeric", "Wasserstein distance (normed)", 0.5 if name in drifted else 0.01, 0.1, name in drifted
            )
            for name in columns
        },
        5000,
        5000,
    )
    evidence = DriftEvidence(
        "3",
        5000,
        5000,
        {
            name: ColumnEvidence(
                name,
                1e-12 if name in drifted else 0.6,
                1e-10 if name in drifted else 0.9,
                0.5 if name in drifted else 0.01,
                1 / len(columns),
                name in drifted,
            )
            for name in columns
        },
    )
    found = DriftResult(summary, evidence, 0.01, "r.html", "r.json", rows_window=900, rows_read=900)
    return replace(found, **changes)


NO_LABELS = Performance("roc_auc", 0.8, 0, None, None)
RETRAIN = DriftDecision(retrain=True, drift_detected=True, reasons=["critical"], blocked_by=None)


def results(decision: DriftDecision = RETRAIN, end: datetime = END, **changes: Any) -> MonitoringResults:
    """What the monitoring tasks handed `report` for the window ending `end`."""
    window = Window(end - timedelta(days=7), end)
    found = MonitoringResults(
        ref=ref(["a"]),
        cur=current_window(window=window, matured_window=window),
        drift=drift_result(["monthly_charges"]),
        perf=NO_LABELS,
        decision=decision,
    )
    return replace(found, **changes)
