"""The training run's dataset input on a real MLflow SQLite store: the snapshot's content hash and
size, with the schema of its first rows, never a walk over every value."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from include.retraining.common import load_settings
from include.retraining.learning import SKOPS_TRUSTED_TYPES
from include.retraining.tracking import SNAPSHOT_HASH_TAG, Tracker, TrainingRunLog
from include.retraining.tracking.dataset import DATASET_SCHEMA_ROWS, log_dataset

pytestmark = pytest.mark.unit


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    return Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)


def test_the_dataset_input_is_the_snapshots_hash_and_size_not_a_walk_over_its_rows(tracker: Tracker) -> None:
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
