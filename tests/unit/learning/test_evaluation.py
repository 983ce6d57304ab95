"""Metrics and the paired comparison of two models on one holdout: the intervals the gate decides
on match the row bootstrap they replaced, and one-class holdouts are named errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from include.retraining.learning import (
    TrainingDataError,
    check_holdout,
    compute_metrics,
    metric_value,
    paired_comparison,
    wape,
)
from include.retraining.learning.evaluation import _SortedAP

pytestmark = pytest.mark.unit

N = 2000


def _scores(rng: np.random.Generator, y: np.ndarray, signal: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=len(y)))))


@pytest.fixture(scope="module")
def classified() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, N)
    shared = rng.normal(size=N)  # the rows both models find hard: what pairing cancels
    a = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + shared + 0.6 * rng.normal(size=N))))
    b = 1 / (1 + np.exp(-(0.9 * (2 * y - 1) + shared + 0.6 * rng.normal(size=N))))
    return y, np.round(a, 2), b  # rounding makes ties, which both AUCs count as one half


@pytest.fixture(scope="module")
def regressed() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12)
    y = rng.gamma(1.0, 2.0, N)
    y[: N // 10] = 0.0  # zero targets: where MAPE explodes
    return y, y + rng.normal(scale=1.0, size=N), y + rng.normal(scale=1.1, size=N)


def _reference_bootstrap_sd(metric: str, y: np.ndarray, a: np.ndarray, b: np.ndarray, samples: int = 250) -> float:
    """The standard deviation of the difference under the old row bootstrap (the rule replaced)."""
    rng = np.random.default_rng(0)
    differences = []
    for _ in range(samples):
        rows = rng.integers(0, len(y), len(y))
        differences.append(metric_value(metric, y[rows], a[rows]) - metric_value(metric, y[rows], b[rows]))
    return float(np.std(differences))


def _half_width_sd(interval) -> float:
    return (interval.upper - interval.lower) / 2 / 1.6448536269514722


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "accuracy", "f1"])
def test_classification_interval_matches_the_reference_bootstrap(classified, metric: str) -> None:
    y, a, b = classified
    interval = paired_comparison(metric, y, a, b)
    sign = -1 if metric == "log_loss" else 1
    assert interval.difference == pytest.approx(sign * (metric_value(metric, y, a) - metric_value(metric, y, b)))
    reference = _reference_bootstrap_sd(metric, y, a, b)
    assert _half_width_sd(interval) == pytest.approx(reference, rel=0.15)
    assert interval.rows == N and interval.lower < interval.difference < interval.upper


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2", "wape"])
def test_regression_interval_matches_the_reference_bootstrap(regressed, metric: str) -> None:
    y, a, b = regressed
    interval = paired_comparison(metric, y, a, b)
    assert interval.method == "delta_method"
    assert abs(interval.difference) == pytest.approx(abs(metric_value(metric, y, a) - metric_value(metric, y, b)))
    assert _half_width_sd(interval) == pytest.approx(_reference_bootstrap_sd(metric, y, a, b), rel=0.15)


def test_delong_auc_difference_is_sklearns_exactly(classified) -> None:
    y, a, b = classified
    interval = paired_comparison("roc_auc", y, a, b)
    assert interval.method == "delong"
    assert interval.difference == pytest.approx(skm.roc_auc_score(y, a) - skm.roc_auc_score(y, b), abs=1e-12)


def test_presorted_average_precision_is_sklearns_under_any_row_counts(classified) -> None:
    y, a, _ = classified
    sorted_ap = _SortedAP(y == 1, a)
    assert sorted_ap.value(np.ones(N)) == pytest.approx(skm.average_precision_score(y, a), abs=1e-12)
    counts = np.bincount(np.random.default_rng(5).integers(0, N, N), minlength=N)
    rows = np.repeat(np.arange(N), counts)
    assert sorted_ap.value(counts.astype(float)) == pytest.approx(
        skm.average_precision_score(y[rows], a[rows]), abs=1e-12
    )


def test_pr_auc_interval_is_a_seeded_resample(classified) -> None:
    y, a, b = classified
    first = paired_comparison("pr_auc", y, a, b, samples=200, seed=3)
    assert first == paired_comparison("pr_auc", y, a, b, samples=200, seed=3)
    assert first.method == "weighted_bootstrap" and first.samples == 200
    assert _half_width_sd(first) == pytest.approx(_reference_bootstrap_sd("pr_auc", y, a, b), rel=0.2)


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "log_loss", "f1"])
def test_a_model_against_itself_is_exactly_zero(classified, metric: str) -> None:
    y, a, _ = classified
    interval = paired_comparison(metric, y, a, a, samples=100)
    assert interval.lower == interval.difference == interval.upper == 0.0


def test_lower_error_is_a_positive_improvement(regressed) -> None:
    y, better, worse = regressed
    rng = np.random.default_rng(3)
    much_worse = y + rng.normal(scale=2.0, size=N)
    for metric in ("rmse", "mae", "wape"):
        assert paired_comparison(metric, y, better, much_worse).lower > 0
        assert paired_comparison(metric, y, much_worse, better).upper < 0


def test_wape_is_finite_with_zero_targets_and_nan_when_all_are_zero() -> None:
    y = np.array([0.0, 0.0, 2.0, 4.0])
    assert wape(y, np.array([1.0, 0.0, 2.0, 3.0])) == pytest.approx(2 / 6)
    assert np.isnan(wape(np.zeros(3), np.ones(3)))
    assert set(compute_metrics("regression", y, y + 0.5)) == {"rmse", "mae", "r2", "wape"}


def test_one_class_holdout_is_a_named_training_data_error() -> None:
    with pytest.raises(TrainingDataError, match=r"model 'churn': the holdout split .* 1 class"):
        check_holdout("churn", "classification", np.zeros(50))
    check_holdout("churn", "classification", np.array([0, 1]))
    check_holdout("demand", "regression", np.zeros(50))


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc"])
def test_ranking_metric_on_one_class_is_a_value_error_not_an_index_error(metric: str) -> None:
    with pytest.raises(ValueError, match="needs both classes"):
        paired_comparison(metric, np.ones(20), np.linspace(0, 1, 20), np.linspace(1, 0, 20))


def test_metric_sets_per_task() -> None:
    y = np.array([0, 1, 0, 1])
    assert set(compute_metrics("classification", y, np.array([0.1, 0.9, 0.2, 0.7]))) == {
        "roc_auc",
        "pr_auc",
        "f1",
        "log_loss",
        "accuracy",
    }
