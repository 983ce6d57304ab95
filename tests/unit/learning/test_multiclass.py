"""Multiclass metrics and the gate's paired interval on them: the values match scikit-learn, the
closed-form standard errors match a row bootstrap of the same difference, classes are named as
text whatever the label column's type, and a label a model never learned counts against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from include.retraining.learning import (
    TrainingDataError,
    check_holdout,
    class_names,
    compute_metrics,
    metric_value,
    paired_comparison,
    predicted_classes,
    unknown_labels,
)

pytestmark = pytest.mark.unit

CLASSES = ["a", "b", "c"]
N = 3000


def _probabilities(rng: np.random.Generator, y: np.ndarray, signal: float) -> pd.DataFrame:
    logits = signal * (y[:, None] == np.array(CLASSES)[None, :]) + rng.normal(size=(len(y), len(CLASSES)))
    exp = np.exp(logits)
    return pd.DataFrame(exp / exp.sum(axis=1, keepdims=True), columns=CLASSES)


@pytest.fixture(scope="module")
def holdout() -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    y = rng.choice(CLASSES, N, p=[0.5, 0.3, 0.2])
    return y, _probabilities(rng, y, 1.4), _probabilities(rng, y, 1.0)


def test_the_metrics_are_scikit_learns(holdout: tuple) -> None:
    y, better, _ = holdout

    metrics = compute_metrics("multiclass", y, better)

    assert set(metrics) == {"roc_auc_ovr", "log_loss", "accuracy"}
    assert metrics["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, better.to_numpy(), multi_class="ovr"))
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(y, better.to_numpy(), labels=CLASSES))
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, np.array(CLASSES)[better.to_numpy().argmax(1)]))


@pytest.mark.parametrize("metric", ["roc_auc_ovr", "log_loss", "accuracy"])
def test_the_paired_interval_matches_a_row_bootstrap_and_is_signed_better_is_positive(
    holdout: tuple, metric: str
) -> None:
    y, better, worse = holdout
    rng = np.random.default_rng(0)
    differences = []
    for _ in range(400):
        rows = rng.integers(0, N, N)
        pick = pd.RangeIndex(N)[rows]
        differences.append(
            metric_value(metric, y[rows], better.iloc[pick].reset_index(drop=True))
            - metric_value(metric, y[rows], worse.iloc[pick].reset_index(drop=True))
        )
    bootstrap_se = float(np.std(differences, ddof=1))

    interval = paired_comparison(metric, y, better, worse, confidence=0.975)
    closed_form_se = (interval.difference - interval.lower) / 1.959964

    assert interval.lower > 0, interval  # the better model is better, log loss included (sign flipped)
    assert closed_form_se == pytest.approx(bootstrap_se, rel=0.15)
    assert interval.method == ("delong_ovr" if metric == "roc_auc_ovr" else "paired_rows")
    assert paired_comparison(metric, y, better, worse) == paired_comparison(metric, y, better, worse)


def test_models_that_learned_different_classes_are_compared_on_their_union() -> None:
    y = np.array(["a", "b", "c", "a", "b", "c"])
    knows_all = pd.DataFrame(np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.8 + 0.2 / 3, columns=CLASSES)
    never_saw_c = pd.DataFrame([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]] * 2, columns=["a", "b"])

    interval = paired_comparison("log_loss", y, knows_all, never_saw_c)

    assert interval.difference > 10  # a class the model cannot predict costs it the clipped loss
    assert unknown_labels(y, never_saw_c) == {"c": 2}
    assert unknown_labels(y, knows_all) == {}


def test_labels_are_named_as_text_and_whole_floats_as_integers() -> None:
    assert class_names(np.array([0.0, 2.0, np.nan])).tolist() == ["0", "2", "nan"]
    assert class_names(np.array([1, 2])).tolist() == ["1", "2"]
    assert class_names(np.array(["x", "y"], dtype=object)).tolist() == ["x", "y"]
    assert class_names(np.array([0.5, 1.0])).tolist() == ["0.5", "1.0"]


def test_integer_labels_score_against_columns_named_by_text() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    probabilities = pd.DataFrame(np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.7 + 0.1, columns=["0", "1", "2"])

    assert metric_value("accuracy", y, probabilities) == 1.0
    assert metric_value("roc_auc_ovr", y.astype("float64"), probabilities) == 1.0
    assert predicted_classes(probabilities).tolist() == ["0", "1", "2", "0", "1", "2"]


def test_a_holdout_of_one_class_is_a_named_error() -> None:
    with pytest.raises(TrainingDataError, match="model 'plans'.*1 class"):
        check_holdout("plans", "multiclass", np.array(["a"] * 10))


def test_macro_auc_needs_two_classes_in_the_labels() -> None:
    probabilities = pd.DataFrame([[0.6, 0.4]] * 4, columns=["a", "b"])

    with pytest.raises(ValueError, match="at least two classes"):
        metric_value("roc_auc_ovr", np.array(["a"] * 4), probabilities)
