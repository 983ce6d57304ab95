"""What the retrain step tests share (the evaluate step's pooling tests in tests/unit/promotion
too): small fakes of the MLflow adapters, a demo snapshot and a model fitted on it once per
session, and the step context. The promotion log is always a real SQLite database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from demo.churn_data import generate_snapshots
from include.retraining.artifacts import write_snapshot
from include.retraining.common import Window, load_settings
from include.retraining.config import load_model_config
from include.retraining.learning import fit, split_by_time
from include.retraining.retrain import Extracted
from include.retraining.runs import RunInfo, StepContext
from include.retraining.tracking import WINDOW_END_TAG, Champion
from include.retraining.warehouse import Database

SHIPPED = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
# One holdout per decision: these fakes keep no evidence store. Pooling (the shipped default) is
# tested against a fake store of its own, tests/unit/promotion/test_pooling.py.
CONFIG = SHIPPED.model_copy(update={"gate": SHIPPED.gate.model_copy(update={"pooled_windows": 1})})
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
CHALLENGER_URI, CHAMPION_URI, PREVIOUS_URI = (
    "models:/m-new",
    "models:/churn/2",  # the registry names the version it read from an alias
    "models:/churn/1",
)


@dataclass
class FakeTracker:
    models: dict[str, Any]
    evaluations: list[tuple[str, dict, dict]] = field(default_factory=list)

    def load_model(self, uri: str) -> Any:
        model = self.models[uri]
        if isinstance(model, Exception):
            raise model
        return model

    def log_evaluation(self, run_id: str, metrics: dict, tags: dict, figure: Any) -> None:
        self.evaluations.append((run_id, metrics, tags))

    def run_link(self, experiment_id: str, run_id: str) -> str:
        return f"mlflow run {run_id}"


@dataclass
class FakeRegistry:
    """The champion and previous champion, and what was promoted and marked challenger; every
    version number exists (a move records the run `run-<version>`); a registration is version 3."""

    current: Champion | None = None
    previous: Champion | None = None
    error: Exception | None = None
    promoted: list[str] = field(default_factory=list)
    challengers: list[tuple[str, dict]] = field(default_factory=list)

    def champion(self) -> Champion | None:
        if self.error:
            raise self.error
        return self.current

    def previous_champion(self) -> Champion | None:
        return self.previous

    def version_for_run(self, run_id: str) -> None:
        return None

    def register_version(self, model_uri: str, run_id: str, tags: dict) -> str:
        return "3"

    def version(self, version: str) -> Champion:
        return Champion(version, f"run-{version}", f"models:/churn/{version}", {})

    def promote(self, version: str, tags: dict) -> str | None:
        self.promoted.append(version)
        return self.current.version if self.current else None

    def point_previous_champion(self, version: str, replaced_by: str) -> None:
        self.previous = self.version(version)

    def mark_challenger(self, version: str, tags: dict) -> None:
        self.challengers.append((version, tags))


@cache
def snapshot_rows() -> pd.DataFrame:
    """The training window's demo rows (treat as read-only: shared by every test)."""
    return generate_snapshots(3000, WINDOW.start, WINDOW.end, seed=5)


@cache
def fitted_model() -> Any:
    """The churn pipeline fitted on the window's training split."""
    return fit(CONFIG, split_by_time(snapshot_rows(), CONFIG).train)


def extracted_snapshot(frame: pd.DataFrame, artifact_root: Path, window: Window = WINDOW) -> Extracted:
    snapshot = write_snapshot(frame, artifact_root, CONFIG.name, window)
    return Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, window)


def champion(version: str, uri: str = CHAMPION_URI, window_end: datetime = WINDOW.end) -> Champion:
    return Champion(version, f"run-{version}", uri, {WINDOW_END_TAG: window_end.isoformat()})


def log_db(tmp_path: Path) -> Database:
    """The SQLite database of the pipeline's tables under `tmp_path` (created on first write)."""
    return Database(f"sqlite:///{tmp_path / 'warehouse.db'}")


def step_context(
    tmp_path: Path, tracker: Any, registry: Any, dry_run: bool = False, config: Any = CONFIG
) -> StepContext:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    run = RunInfo("retrain_churn", "manual__1", WINDOW.end, dry_run=dry_run)
    return StepContext(config, settings, run, tracker=tracker, registry=registry, pipeline_db=log_db(tmp_path))
