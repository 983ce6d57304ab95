"""Training guards and the logged example: one-class splits are named errors, and no real row
is stored inside a model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.config.model import load_model_config
from include.retraining.learning.training import (
    TrainingDataError,
    build_pipeline,
    check_split,
    split_by_time,
    synthetic_example,
)

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_snapshots(2000, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), seed=7)


@pytest.mark.parametrize("split_name", ["training", "holdout"])
def test_a_one_class_split_is_a_training_data_error_naming_it(data: pd.DataFrame, split_name: str) -> None:
    split = split_by_time(data, CONFIG)
    part = split.train if split_name == "training" else split.holdout
    part[CONFIG.target] = 0
    with pytest.raises(TrainingDataError, match=rf"the {split_name} split has 1 class\(es\) of target 'churned'"):
        check_split(split, CONFIG)


def test_both_classes_in_both_splits_pass(data: pd.DataFrame) -> None:
    check_split(split_by_time(data, CONFIG), CONFIG)


def test_the_input_example_is_one_synthetic_row(data: pd.DataFrame) -> None:
    features = data[CONFIG.features.columns]
    example = synthetic_example(features, CONFIG)
    assert list(example.columns) == list(CONFIG.features.columns) and len(example) == 1
    real_rows = set(map(tuple, features.astype(str).to_numpy()))
    assert tuple(example.astype(str).iloc[0]) not in real_rows
    assert all(example[c].dtype == "float64" for c in CONFIG.features.numeric)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_thread_setting_reaches_the_estimators_fit(
    data: pd.DataFrame, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from threadpoolctl import threadpool_info

    from include.retraining.learning import training

    seen: list[set[int]] = []

    class Recording(ClassifierMixin, BaseEstimator):
        def fit(self, X: object, y: object) -> Recording:
            seen.append({pool["num_threads"] for pool in threadpool_info()})
            return self

    monkeypatch.setattr(training, "build_estimator", lambda config: Recording())
    training.fit(CONFIG, data, threads=threads)
    assert seen == [{threads}]


def test_the_thread_setting_defaults_to_one_per_task() -> None:
    from include.retraining.common.settings import load_settings

    assert load_settings({}).fit_threads == 1
    assert load_settings({"RETRAINING_FIT_THREADS": "4"}).fit_threads == 4
    with pytest.raises(ValueError, match="RETRAINING_FIT_THREADS=0"):
        load_settings({"RETRAINING_FIT_THREADS": "0"})


def test_the_split_of_rows_already_in_order_equals_the_sorted_split(data: pd.DataFrame) -> None:
    ordered = data.sort_values(["snapshot_at", "customer_id"], kind="mergesort").reset_index(drop=True)
    ordered.loc[1, "snapshot_at"] = ordered.loc[0, "snapshot_at"]  # a tie, broken by the id
    shuffled = ordered.sample(frac=1.0, random_state=3)

    fast, sorted_split = split_by_time(ordered, CONFIG), split_by_time(shuffled, CONFIG)

    pd.testing.assert_frame_equal(fast.train, sorted_split.train)
    pd.testing.assert_frame_equal(fast.holdout, sorted_split.holdout)


def test_ties_out_of_id_order_are_still_sorted(data: pd.DataFrame) -> None:
    ordered = data.sort_values(["snapshot_at", "customer_id"], kind="mergesort").reset_index(drop=True)
    last = len(ordered) - 1
    ordered.loc[last, "snapshot_at"] = ordered.loc[last - 1, "snapshot_at"]
    ordered.loc[last, "customer_id"] = "A-first"

    holdout = split_by_time(ordered, CONFIG).holdout

    assert holdout["customer_id"].iloc[-1] != "A-first"
    assert holdout["customer_id"].iloc[-2] == "A-first"


def test_native_encoding_tells_the_booster_its_category_columns_and_caps_codes_at_its_bins() -> None:
    features = CONFIG.features.model_copy(update={"categorical_encoding": "native"})
    training = CONFIG.training.model_copy(update={"params": {**CONFIG.training.params, "max_bins": 16}})
    native = CONFIG.model_copy(update={"features": features, "training": training})

    pipeline, default = build_pipeline(native), build_pipeline(CONFIG)

    assert pipeline["model"].categorical_features == [0, 1, 2]
    assert pipeline["features"].transformers[0][1]["encode"].max_categories == 16
    assert default["model"].categorical_features == "from_dtype"  # one_hot: scikit-learn's default
