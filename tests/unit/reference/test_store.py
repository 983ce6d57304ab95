"""A champion's reference profile on local disk, as validation and the monitor read it: from the
version's cache, else the run's logged copy, else (an older champion) its snapshot; a tracking
error is never read as "no profile"."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.artifacts import write_snapshot
from include.retraining.common import Window, load_settings
from include.retraining.config import load_model_config
from include.retraining.learning import SKOPS_TRUSTED_TYPES, DataValidationError
from include.retraining.monitor import steps as monitor_steps
from include.retraining.reference import champion_profile, write_reference
from include.retraining.retrain import Extracted
from include.retraining.retrain import steps as retrain_steps
from include.retraining.runs import RunInfo, StepContext

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
SMALL_SAMPLE = CONFIG.model_copy(update={"monitor": CONFIG.monitor.model_copy(update={"max_rows": 1500})})
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_snapshots(4000, WINDOW.start, WINDOW.end, seed=3)


class LoggingTracker:
    """A tracking adapter whose run `logged` holds a profile folder (None: logged none)."""

    def __init__(self, logged: Path | None = None, frame: pd.DataFrame | None = None, error: Exception | None = None):
        self.logged, self.frame, self.error = logged, frame, error
        self.downloads = 0

    def download_artifacts(self, run_id: str, artifact_path: str, dst_path: str | None = None) -> Path | None:
        self.downloads += 1
        if self.error:
            raise self.error
        if self.logged is None:
            return None
        return Path(shutil.copytree(self.logged, Path(dst_path) / artifact_path))

    def training_frame(self, run_id: str) -> pd.DataFrame | None:
        return self.frame

    def run_metrics(self, run_id: str) -> dict:
        return {"holdout_roc_auc": 0.8}

    def load_model(self, uri: str):
        return SimpleNamespace(feature_names_in_=np.array(CONFIG.features.columns, dtype=object))


def _ctx(tmp_path: Path, tracker, champion=None, config=CONFIG) -> StepContext:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    registry = SimpleNamespace(champion=lambda: champion)
    run = RunInfo("retrain_churn", "manual__1", WINDOW.end)
    return StepContext(config, settings, run, tracker=tracker, registry=registry)


def test_the_logged_profile_is_copied_once_then_read_from_the_version_cache(data: pd.DataFrame, tmp_path: Path) -> None:
    write_reference(data, SMALL_SAMPLE, tmp_path / "logged")
    tracker = LoggingTracker(logged=tmp_path / "logged", frame=None)
    ctx = _ctx(tmp_path, tracker)

    first = champion_profile(ctx, "4", "run-4")
    second = champion_profile(ctx, "4", "run-4")

    assert tracker.downloads == 1 and first.rows == second.rows == len(data)
    assert first.sample_path.endswith("churn/reference/v4/sample.parquet")
    assert sorted(p.name for p in Path(first.sample_path).parents[1].iterdir()) == ["v4"]  # no staging left


def test_a_champion_logged_before_profiles_is_profiled_from_its_snapshot(data: pd.DataFrame, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, LoggingTracker(logged=None, frame=data))

    profile = champion_profile(ctx, "2", "run-2")

    assert profile.rows == len(data) and Path(profile.sample_path).exists()
    assert champion_profile(_ctx(tmp_path, LoggingTracker(logged=None, frame=None)), "9", "run-9") is None


def test_a_tracking_error_is_not_read_as_no_profile(data: pd.DataFrame, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, LoggingTracker(frame=data, error=ConnectionError("tracking server down")))

    with pytest.raises(ConnectionError):
        champion_profile(ctx, "4", "run-4")


def test_monitor_reference_points_at_the_profile_sample(data: pd.DataFrame, tmp_path: Path) -> None:
    write_reference(data, SMALL_SAMPLE, tmp_path / "logged")
    champion = SimpleNamespace(version="4", run_id="run-4")
    ctx = _ctx(tmp_path, LoggingTracker(logged=tmp_path / "logged"), champion, config=SMALL_SAMPLE)

    ref = monitor_steps.reference(ctx)

    assert ref.version == "4" and ref.features == CONFIG.features.columns
    assert len(pd.read_parquet(ref.snapshot)) == 1500


def test_validate_learns_the_champions_categories_from_its_profile(data: pd.DataFrame, tmp_path: Path) -> None:
    common = data["payment_method"].mode()[0]
    reference = data.assign(payment_method=data["payment_method"].where(data["payment_method"] != common, None))
    write_reference(reference, CONFIG, tmp_path / "logged")
    window = Window(WINDOW.end, WINDOW.end + timedelta(days=35))
    snapshot = write_snapshot(generate_snapshots(3000, window.start, window.end, seed=4), tmp_path, "churn", window)
    extracted = Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, window)
    champion = SimpleNamespace(version="4", run_id="run-4")
    ctx = _ctx(tmp_path, LoggingTracker(logged=tmp_path / "logged"), champion)

    with pytest.raises(DataValidationError) as error:
        retrain_steps.validate(ctx, extracted)

    failed = {(f.expectation, f.column) for f in error.value.report.failed}
    assert failed == {("expect_column_values_to_be_in_set", "payment_method")}


def test_a_profile_logged_to_a_real_mlflow_store_is_read_back(data: pd.DataFrame, tmp_path: Path) -> None:
    from include.retraining.tracking import Tracker

    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    tracker = Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)
    run = tracker.client.create_run(tracker.ensure_experiment("churn"))
    write_reference(data, SMALL_SAMPLE, tmp_path / "logged")
    tracker.client.log_artifacts(run.info.run_id, str(tmp_path / "logged"), artifact_path="reference")
    ctx = StepContext(CONFIG, settings, RunInfo("monitor_churn", "r", WINDOW.end), tracker=tracker, registry=None)

    profile = champion_profile(ctx, "1", run.info.run_id)

    assert profile.rows == len(data) and len(pd.read_parquet(profile.sample_path)) == 1500
    assert Path(profile.sample_path).parent == settings.artifact_root / "churn" / "reference" / "v1"
