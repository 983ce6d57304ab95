"""The feature pipeline and model behaviour on the demo data, not only that `fit` runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.config import ModelConfigError, load_model_config
from include.retraining.evaluation import metric_value
from include.retraining.training import (
    TrainingDataError,
    build_pipeline,
    check_trainable,
    fit,
    predict_scores,
    split_by_time,
)

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)


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


def test_unseen_categories_and_missing_values_are_scored_not_rejected(model) -> None:
    odd = pd.DataFrame(
        {
            "tenure_months": [3, None],
            "monthly_charges": [None, 80.0],
            "support_tickets_90d": [None, 1.0],
            "contract": ["quarterly", None],
            "payment_method": [None, "crypto"],
            "region": ["mars", "north"],
        }
    )
    scores = predict_scores(model, odd, "classification")
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
