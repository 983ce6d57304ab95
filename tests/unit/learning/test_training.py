"""Training: the out-of-time split and its guards, the estimator behind the feature pipeline, and
the model's behaviour on the demo data, not only that `fit` runs. No real row is stored inside a
model, and a fitted model keeps its own feature list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.config import ModelConfigError, load_model_config
from include.retraining.drift import score_sensitivity
from include.retraining.learning import (
    TrainingDataError,
    build_pipeline,
    check_split,
    check_trainable,
    fit,
    holdout_rows,
    metric_value,
    model_features,
    predict_scores,
    split_by_time,
    synthetic_example,
)
from tests.support import odd_churn_rows, with_native_categories

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
NATIVE = with_native_categories(CONFIG)
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
ODD = odd_churn_rows()


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_snapshots(2000, START, END, seed=7)


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return generate_snapshots(8000, START, END, seed=3)


@pytest.fixture(scope="module")
def model(large: pd.DataFrame):
    return fit(CONFIG, split_by_time(large, CONFIG).train)


@pytest.fixture(scope="module")
def native_model(large: pd.DataFrame):
    return fit(NATIVE, split_by_time(large, NATIVE).train)


def _auc(model, holdout: pd.DataFrame) -> float:
    scores = predict_scores(model, holdout[CONFIG.features.columns], "classification")
    return metric_value("roc_auc", holdout["churned"], scores)


def test_holdout_is_the_latest_slice_by_time(large: pd.DataFrame) -> None:
    split = split_by_time(large, CONFIG)
    assert len(split.holdout) == int(np.ceil(len(large) * CONFIG.training.holdout_fraction))
    assert split.train["snapshot_at"].max() <= split.holdout["snapshot_at"].min()


@pytest.mark.parametrize("split_name", ["training", "holdout"])
def test_a_one_class_split_is_a_training_data_error_naming_it(data: pd.DataFrame, split_name: str) -> None:
    split = split_by_time(data, CONFIG)
    part = "train" if split_name == "training" else "holdout"
    split = replace(split, **{part: getattr(split, part).assign(**{CONFIG.target: 0})})
    with pytest.raises(TrainingDataError, match=rf"the {split_name} split has 1 class\(es\) of target 'churned'"):
        check_split(split, CONFIG)


def test_both_classes_in_both_splits_pass(data: pd.DataFrame) -> None:
    split = split_by_time(data, CONFIG)

    check_split(split, CONFIG)  # raises on a one-class split (above)

    assert set(split.train[CONFIG.target]) == set(split.holdout[CONFIG.target]) == {0, 1}
    assert len(split.train) + len(split.holdout) == len(data)


def test_a_regression_split_is_not_checked_for_classes(data: pd.DataFrame) -> None:
    regression = CONFIG.model_copy(update={"task": "regression"})
    split = split_by_time(data.assign(churned=0), regression)

    check_split(split, regression)  # would raise for a classifier: one class in both splits

    with pytest.raises(TrainingDataError):
        check_split(split, CONFIG)


def test_too_few_rows_or_one_class_stop_cleanly(large: pd.DataFrame) -> None:
    with pytest.raises(TrainingDataError, match="fewer than training.min_rows"):
        check_trainable(large.head(10), CONFIG)
    with pytest.raises(TrainingDataError, match="1 class"):
        check_trainable(large.assign(churned=0), CONFIG)


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


def test_the_holdout_rows_of_a_champions_training_rows_are_its_split(data: pd.DataFrame) -> None:
    shuffled = data.sample(frac=1.0, random_state=1)

    rows = holdout_rows(shuffled, CONFIG)

    pd.testing.assert_frame_equal(rows, split_by_time(data, CONFIG).holdout)


def test_a_reference_sample_without_ids_is_cut_by_time_alone(data: pd.DataFrame) -> None:
    sample = data.drop(columns="customer_id").sample(frac=1.0, random_state=1)

    rows = holdout_rows(sample, CONFIG)

    assert "customer_id" not in rows and len(rows) == int(np.ceil(len(data) * CONFIG.training.holdout_fraction))
    assert rows["snapshot_at"].is_monotonic_increasing
    assert rows["snapshot_at"].min() >= split_by_time(data, CONFIG).train["snapshot_at"].max()


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


def test_unknown_estimator_params_name_the_model_and_the_valid_ones() -> None:
    config = CONFIG.model_copy(update={"training": CONFIG.training.model_copy(update={"params": {"max_iters": 3}})})
    with pytest.raises(ModelConfigError, match="max_iters.*valid ones"):
        build_pipeline(config)


def test_estimator_must_fit_the_task() -> None:
    config = CONFIG.model_copy(update={"training": CONFIG.training.model_copy(update={"estimator": "ridge"})})
    with pytest.raises(ModelConfigError, match="not available for classification"):
        build_pipeline(config)


def test_native_encoding_tells_the_booster_its_category_columns_and_caps_codes_at_its_bins() -> None:
    features = CONFIG.features.model_copy(update={"categorical_encoding": "native"})
    training = CONFIG.training.model_copy(update={"params": {**CONFIG.training.params, "max_bins": 16}})
    native = CONFIG.model_copy(update={"features": features, "training": training})

    pipeline, default = build_pipeline(native), build_pipeline(CONFIG)

    assert pipeline["model"].categorical_features == [0, 1, 2]
    assert pipeline["features"].transformers[0][1]["encode"].max_categories == 16
    assert default["model"].categorical_features == "from_dtype"  # one_hot: scikit-learn's default


def test_model_learns_the_signal(large: pd.DataFrame, model) -> None:
    assert _auc(model, split_by_time(large, CONFIG).holdout) > 0.75


def test_more_tenure_never_raises_churn_odds_on_average(large: pd.DataFrame, model) -> None:
    rows = large.sample(500, random_state=0)[CONFIG.features.columns]
    short, long = rows.assign(tenure_months=2), rows.assign(tenure_months=48)
    assert predict_scores(model, long, "classification").mean() < predict_scores(model, short, "classification").mean()


def test_unseen_categories_and_missing_values_are_scored_not_rejected(model) -> None:
    scores = predict_scores(model, ODD, "classification")
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_native_encoding_splits_on_category_codes_and_learns_as_well_as_one_hot(
    large: pd.DataFrame, native_model, model
) -> None:
    holdout = split_by_time(large, CONFIG).holdout
    names = list(native_model[:-1].get_feature_names_out())

    native_auc, one_hot_auc = _auc(native_model, holdout), _auc(model, holdout)

    # The booster splits on exactly the preprocessor's category codes, one input per category feature...
    categorical = [name.startswith("categorical__") for name in names]
    assert list(native_model[-1].is_categorical_) == categorical and sum(categorical) == 3
    # ...where one-hot gives it only numbers, one input per category value.
    assert model[-1].is_categorical_ is None and model[-1].n_features_in_ > native_model[-1].n_features_in_ + 3
    assert native_auc > 0.75 and abs(native_auc - one_hot_auc) < 0.02


def test_native_model_importance_is_per_source_column(large: pd.DataFrame, native_model) -> None:
    columns = CONFIG.features.columns
    reference = large[columns]

    shares = score_sensitivity(
        lambda f: predict_scores(native_model, f, "classification"), reference, columns, rows=500, seed=0
    )

    assert set(shares) == set(columns) and sum(shares.values()) == pytest.approx(1.0)
    assert shares["contract"] > 0.05
    names = native_model[:-1].get_feature_names_out()
    assert [n.split("__", 1)[1] for n in names[:3]] == list(CONFIG.features.categorical)


def test_a_fitted_model_keeps_its_own_feature_list(data: pd.DataFrame) -> None:
    older = CONFIG.model_copy(
        update={"features": CONFIG.features.model_copy(update={"numeric": ["tenure_months", "monthly_charges"]})}
    )
    quick = older.model_copy(update={"training": older.training.model_copy(update={"params": {"max_iter": 5}})})

    fitted = fit(quick, data)

    assert model_features(fitted, CONFIG.features.columns) == [*older.features.columns]
    assert "support_tickets_90d" not in model_features(fitted, CONFIG.features.columns)


def test_a_model_without_its_feature_list_is_read_with_todays() -> None:
    fallback = list(CONFIG.features.columns)

    features = model_features(SimpleNamespace(), fallback)

    assert features == fallback and features is not fallback
