"""The feature pipeline and model behaviour on the demo data, not only that `fit` runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.config.model import ModelConfigError, load_model_config
from include.retraining.drift.evidence import score_sensitivity
from include.retraining.learning.evaluation import metric_value
from include.retraining.learning.training import (
    SKOPS_TRUSTED_TYPES,
    TrainingDataError,
    build_pipeline,
    check_trainable,
    fit,
    predict_scores,
    split_by_time,
)
from include.retraining.score.scoring import inspect_input
from include.retraining.tracking.loading import UnsafeModelError, load_skops_model

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
NATIVE = CONFIG.model_copy(update={"features": CONFIG.features.model_copy(update={"categorical_encoding": "native"})})
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
ODD = pd.DataFrame(
    {
        "tenure_months": [3, None],
        "monthly_charges": [None, 80.0],
        "support_tickets_90d": [None, 1.0],
        "contract": ["quarterly", None],
        "payment_method": [None, "crypto"],
        "region": ["mars", "north"],
    }
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_snapshots(8000, START, END, seed=3)


@pytest.fixture(scope="module")
def model(data: pd.DataFrame):
    return fit(CONFIG, split_by_time(data, CONFIG).train)


def test_holdout_is_the_latest_slice_by_time(data: pd.DataFrame) -> None:
    split = split_by_time(data, CONFIG)
    assert len(split.holdout) == int(np.ceil(len(data) * CONFIG.training.holdout_fraction))
    assert split.train["snapshot_at"].max() <= split.holdout["snapshot_at"].min()


def test_model_learns_the_signal(data: pd.DataFrame, model) -> None:
    holdout = split_by_time(data, CONFIG).holdout
    auc = metric_value(
        "roc_auc", holdout["churned"], predict_scores(model, holdout[CONFIG.features.columns], "classification")
    )
    assert auc > 0.75


def test_more_tenure_never_raises_churn_odds_on_average(data: pd.DataFrame, model) -> None:
    rows = data.sample(500, random_state=0)[CONFIG.features.columns]
    short, long = rows.assign(tenure_months=2), rows.assign(tenure_months=48)
    assert predict_scores(model, long, "classification").mean() < predict_scores(model, short, "classification").mean()


@pytest.fixture(scope="module")
def native_model(data: pd.DataFrame):
    return fit(NATIVE, split_by_time(data, NATIVE).train)


def test_unseen_categories_and_missing_values_are_scored_not_rejected(model) -> None:
    scores = predict_scores(model, ODD, "classification")
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_unknown_estimator_params_name_the_model_and_the_valid_ones() -> None:
    config = CONFIG.model_copy(update={"training": CONFIG.training.model_copy(update={"params": {"max_iters": 3}})})
    with pytest.raises(ModelConfigError, match="max_iters.*valid ones"):
        build_pipeline(config)


def test_estimator_must_fit_the_task() -> None:
    config = CONFIG.model_copy(update={"training": CONFIG.training.model_copy(update={"estimator": "ridge"})})
    with pytest.raises(ModelConfigError, match="not available for classification"):
        build_pipeline(config)


def test_too_few_rows_or_one_class_stop_cleanly(data: pd.DataFrame) -> None:
    with pytest.raises(TrainingDataError, match="fewer than training.min_rows"):
        check_trainable(data.head(10), CONFIG)
    with pytest.raises(TrainingDataError, match="1 class"):
        check_trainable(data.assign(churned=0), CONFIG)


def test_native_encoding_splits_on_category_codes_and_still_learns(data: pd.DataFrame, native_model, model) -> None:
    holdout = split_by_time(data, CONFIG).holdout[CONFIG.features.columns]
    labels = split_by_time(data, CONFIG).holdout["churned"]

    native, one_hot = (predict_scores(m, holdout, "classification") for m in (native_model, model))

    assert list(native_model[-1].is_categorical_[:3]) == [True] * 3 and not native_model[-1].is_categorical_[3:].any()
    assert not np.allclose(native, one_hot, atol=1e-3)
    assert metric_value("roc_auc", labels, native) > 0.75


def test_native_model_scores_unseen_categories_and_missing_values(native_model) -> None:
    report = inspect_input(native_model, ODD, NATIVE)

    scores = predict_scores(native_model, ODD, "classification")

    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert report.unseen == {"contract": 1, "payment_method": 1, "region": 1}


def _save_as_mlflow_does(model, folder: Path) -> Path:
    import skops.io
    import yaml

    folder.mkdir()
    skops.io.dump(model, folder / "model.skops")
    flavor = {
        "serialization_format": "skops",
        "pickled_model": "model.skops",
        "skops_trusted_types": SKOPS_TRUSTED_TYPES,
    }
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": flavor}}))
    return folder


def test_native_model_round_trips_through_skops_with_the_project_types(native_model, tmp_path: Path) -> None:
    loaded = load_skops_model(_save_as_mlflow_does(native_model, tmp_path / "model"), "v1")

    scores = predict_scores(loaded, ODD, "classification")

    assert np.array_equal(scores, predict_scores(native_model, ODD, "classification"))


def test_trusting_partial_does_not_trust_the_function_it_wraps(tmp_path: Path) -> None:
    import functools
    import os

    from sklearn.preprocessing import FunctionTransformer

    untrusted = FunctionTransformer(functools.partial(os.getcwd))
    with pytest.raises(UnsafeModelError, match="os.getcwd|posix.getcwd"):
        load_skops_model(_save_as_mlflow_does(untrusted, tmp_path / "model"), "v2")


def test_native_model_importance_is_per_source_column(data: pd.DataFrame, native_model) -> None:
    columns = CONFIG.features.columns
    reference = data[columns]

    shares = score_sensitivity(
        lambda f: predict_scores(native_model, f, "classification"), reference, columns, rows=500, seed=0
    )

    assert set(shares) == set(columns) and sum(shares.values()) == pytest.approx(1.0)
    assert shares["contract"] > 0.05
    names = native_model[:-1].get_feature_names_out()
    assert [n.split("__", 1)[1] for n in names[:3]] == list(CONFIG.features.categorical)
