"""The tracking adapter on a real MLflow SQLite store: the project's own model loader refuses
what is not ours, and evaluation logging never fails the training run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from include.retraining.common.settings import load_settings
from include.retraining.learning.training import SKOPS_TRUSTED_TYPES
from include.retraining.tracking.tracker import Tracker, UnsafeModelError, UnusableModelError, load_skops_model

pytestmark = pytest.mark.unit


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    return Tracker.connect(settings)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fitted pipeline saved as MLflow does for this project: skops, our trusted types."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    frame = pd.DataFrame({"x": np.arange(20.0)})
    model = Pipeline([("model", LogisticRegression())]).fit(frame, np.arange(20) % 2)
    folder = tmp_path_factory.mktemp("model") / "model"
    mlflow.sklearn.save_model(model, folder, serialization_format="skops", skops_trusted_types=SKOPS_TRUSTED_TYPES)
    return folder


def _copy_with(saved: Path, tmp_path: Path, **flavor: object) -> Path:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(saved, folder)
    spec = yaml.safe_load((folder / "MLmodel").read_text())
    spec["flavors"]["sklearn"].update(flavor)
    (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    return folder


def test_our_skops_model_loads(saved_model: Path) -> None:
    model = load_skops_model(saved_model, "v1")
    assert list(model.feature_names_in_) == ["x"]


def test_a_pickle_model_is_refused_by_name(saved_model: Path, tmp_path: Path) -> None:
    folder = _copy_with(saved_model, tmp_path, serialization_format="cloudpickle")
    with pytest.raises(UnsafeModelError, match="'cloudpickle'.*only 'skops'"):
        load_skops_model(folder, "models:/churn@champion")


def test_a_model_that_widens_the_trusted_types_is_refused(saved_model: Path, tmp_path: Path) -> None:
    folder = _copy_with(saved_model, tmp_path, skops_trusted_types=[*SKOPS_TRUSTED_TYPES, "builtins.eval"])
    with pytest.raises(UnsafeModelError, match="builtins.eval"):
        load_skops_model(folder, "v9")


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_corrupt_or_missing_model_file_is_unusable(saved_model: Path, tmp_path: Path, damage: str) -> None:
    folder = _copy_with(saved_model, tmp_path)
    target = folder / "model.skops"
    if damage == "corrupt":
        target.write_bytes(b"not a zip file")
    else:
        target.unlink()
    with pytest.raises(UnusableModelError, match="cannot load model.skops"):
        load_skops_model(folder, "v2")


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


def test_the_dataset_input_is_the_snapshots_hash_and_size_not_a_walk_over_its_rows(tracker: Tracker) -> None:
    import json

    import mlflow
    import numpy as np
    import pandas as pd

    from include.retraining.tracking.dataset import DATASET_SCHEMA_ROWS, log_dataset
    from include.retraining.tracking.tracker import SNAPSHOT_HASH_TAG, TrainingRunLog

    rows = DATASET_SCHEMA_ROWS * 3
    frame = pd.DataFrame({"x": np.arange(rows, dtype="float64"), "plan": ["a", "b", "c"] * DATASET_SCHEMA_ROWS})
    frame["y"] = np.arange(rows) % 2
    record = TrainingRunLog(
        run_name="r",
        tags={SNAPSHOT_HASH_TAG: "ab" * 32},
        params={},
        config_json={},
        frame=frame,
        snapshot_path="/tmp/snap.parquet",
        dataset_name="churn-w",
        target="y",
    )
    experiment_id = tracker.ensure_experiment("datasets")
    with mlflow.start_run(experiment_id=experiment_id) as active:
        log_dataset(record)

    logged = tracker.client.get_run(active.info.run_id).inputs.dataset_inputs[0].dataset
    assert logged.digest == "ab" * 8
    assert json.loads(logged.profile) == {"num_rows": rows, "num_elements": rows * 3}
    columns = {c["name"]: c["type"] for c in json.loads(logged.schema)["mlflow_colspec"]}
    assert columns == {"x": "double", "plan": "string", "y": "long"}
