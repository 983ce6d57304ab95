"""A freshly fitted model through the project's loader: a native-category model round-trips
through skops with the project's trusted types, and a trusted `functools.partial` trusts nothing
it wraps."""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.preprocessing import FunctionTransformer

from demo.churn_data import generate_snapshots
from include.retraining.config import load_model_config
from include.retraining.learning import SKOPS_TRUSTED_TYPES, fit, predict_scores, split_by_time
from include.retraining.tracking import UnsafeModelError
from include.retraining.tracking.loading import import_skops, load_skops_model
from tests.support import odd_churn_rows, with_native_categories

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
NATIVE = with_native_categories(CONFIG)
ODD = odd_churn_rows()


@pytest.fixture(scope="module")
def native_model():
    data = generate_snapshots(3000, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), seed=3)
    return fit(NATIVE, split_by_time(data, NATIVE).train)


def _save_as_mlflow_does(model, folder: Path) -> Path:
    folder.mkdir()
    import_skops().dump(model, folder / "model.skops")
    flavor = {
        "serialization_format": "skops",
        "pickled_model": "model.skops",
        "skops_trusted_types": SKOPS_TRUSTED_TYPES,
    }
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": flavor}}))
    return folder


def test_native_model_round_trips_through_skops_with_the_project_types(native_model, tmp_path: Path) -> None:
    loaded = load_skops_model(_save_as_mlflow_does(native_model, tmp_path / "model"), "v1", SKOPS_TRUSTED_TYPES)

    scores = predict_scores(loaded, ODD, "classification")

    assert np.array_equal(scores, predict_scores(native_model, ODD, "classification"))
    assert list(loaded[-1].is_categorical_) == list(native_model[-1].is_categorical_)


def test_trusting_partial_does_not_trust_the_function_it_wraps(tmp_path: Path) -> None:
    untrusted = FunctionTransformer(functools.partial(os.getcwd))
    with pytest.raises(UnsafeModelError, match="os.getcwd|posix.getcwd"):
        load_skops_model(_save_as_mlflow_does(untrusted, tmp_path / "model"), "v2", SKOPS_TRUSTED_TYPES)
