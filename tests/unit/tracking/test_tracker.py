"""The tracking adapter on a real MLflow SQLite store: it connects on first use, evaluation
logging never fails the training run, and only "nothing stored there" reads as absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from include.retraining.common import load_settings
from include.retraining.learning import SKOPS_TRUSTED_TYPES
from include.retraining.tracking import Tracker, UnusableModelError

pytestmark = pytest.mark.unit


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    return Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)


def test_a_failing_evaluation_log_leaves_the_training_run_finished(tracker: Tracker) -> None:
    experiment = tracker.ensure_experiment("churn")
    run = tracker.client.create_run(experiment)
    tracker.client.set_terminated(run.info.run_id)
    with pytest.raises(Exception):  # noqa: B017 - whatever the plotting error, the run stays FINISHED
        tracker.log_evaluation(run.info.run_id, {"holdout_roc_auc": 0.8}, {"retraining.gate": "block"}, object())
    assert tracker.client.get_run(run.info.run_id).info.status == "FINISHED"
    assert tracker.run_metrics(run.info.run_id)["holdout_roc_auc"] == 0.8


def test_missing_snapshot_artifacts_mean_none_not_an_error(tracker: Tracker, tmp_path: Path) -> None:
    experiment = tracker.ensure_experiment("churn")
    run = tracker.client.create_run(experiment)
    assert tracker.training_frame(run.info.run_id) is None
    assert tracker.download_artifacts(run.info.run_id, "reference", dst_path=str(tmp_path)) is None


def test_a_model_uri_with_no_files_is_unusable(tracker: Tracker) -> None:
    with pytest.raises(UnusableModelError):
        tracker.load_model("models:/churn@champion")


def test_ensure_experiment_is_idempotent(tracker: Tracker) -> None:
    assert tracker.ensure_experiment("churn") == tracker.ensure_experiment("churn")
    assert isinstance(tracker.client, MlflowClient)


def test_it_connects_on_first_use_or_uses_the_client_it_is_given(tmp_path: Path) -> None:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    lazy = Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)
    assert "client" not in vars(lazy), "building a tracker must not reach the store"
    assert lazy.client.tracking_uri == settings.tracking_uri and lazy.client is lazy.client

    given = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'other.db'}")
    assert Tracker(settings, trusted_types=[], client=given).client is given
