"""Unit tests for the performance estimate before labels mature (monitor/estimate.py): the
expected metrics, the calibration on the holdout, what the estimate can and cannot see, and that
the monitor's decision never reads it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from include.retraining.alerts import drift_alert
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.learning import metric_value
from include.retraining.monitor import steps as monitor_steps
from include.retraining.monitor.estimate import (
    LABEL,
    PerformanceEstimate,
    calibration_error,
    estimate,
    expected_metric,
    expected_roc_auc,
    for_window,
)
from include.retraining.monitor.record import run_metrics
from tests.unit.monitor.fakes import CHURN, RETRAIN, FakeModel, FakeTracker, context, results, sqlite_url, windows

pytestmark = pytest.mark.unit


def _population(rng: np.random.Generator, n: int, spread: float = 1.0, flip: bool = False):
    """Calibrated scores of a logistic model: x ~ N(0, spread), P(y = 1 | x) = sigmoid(2x)."""
    x = rng.normal(0.0, spread, n)
    p = 1 / (1 + np.exp(-2 * x))
    y = (rng.random(n) < (1 - p if flip else p)).astype(int)
    return p, y


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "log_loss", "f1"])
def test_with_certain_probabilities_the_expected_metric_is_the_metric(metric):
    rng = np.random.default_rng(1)
    scores = np.round(rng.random(400), 2)  # ties included
    labels = rng.integers(0, 2, 400)

    found = expected_metric(metric, scores, labels.astype(float))

    assert found == pytest.approx(metric_value(metric, labels, scores), abs=1e-9)


def test_expected_roc_auc_is_the_mean_auc_over_labels_drawn_from_the_probabilities():
    rng = np.random.default_rng(2)
    scores = rng.random(300)
    p = np.clip(scores + rng.normal(0, 0.1, 300), 0.01, 0.99)
    drawn = [roc_auc_score(rng.random(300) < p, scores) for _ in range(500)]

    assert expected_roc_auc(scores, p) == pytest.approx(np.mean(drawn), abs=0.006)


def test_calibration_error_is_small_for_calibrated_scores_and_large_for_overconfident_ones():
    p, y = _population(np.random.default_rng(3), 50_000)
    overconfident = np.where(p > 0.5, np.sqrt(p), p**2)

    assert calibration_error(p, y) < 0.01 < 0.05 < calibration_error(overconfident, y)


def test_the_estimate_follows_a_covariate_shift_but_cannot_see_concept_drift():
    rng = np.random.default_rng(4)
    holdout_scores, holdout_y = _population(rng, 20_000)
    raw = np.clip(holdout_scores**0.7, 0, 1)  # miscalibrated but same ranking: the isotonic map fixes it
    holdout_auc = roc_auc_score(holdout_y, raw)
    shifted, shifted_y = _population(rng, 20_000, spread=0.5)  # more rows near 0.5: the AUC falls
    flipped, flipped_y = _population(rng, 20_000, flip=True)  # same rows, the labels' relation reversed

    def run(scores):
        return estimate("roc_auc", raw, holdout_y, scores**0.7, holdout_value=holdout_auc, higher_is_better=True)

    same, covariate, concept = run(holdout_scores), run(shifted), run(flipped)

    assert same.value == pytest.approx(holdout_auc, abs=0.01) and abs(same.gap) < 0.01
    assert covariate.value == pytest.approx(roc_auc_score(shifted_y, shifted), abs=0.01)
    assert covariate.gap > 0.02
    assert concept.value == pytest.approx(holdout_auc, abs=0.01)  # truly about 1 - AUC: not seen
    assert roc_auc_score(flipped_y, flipped) < 0.5


def test_a_metric_without_an_estimate_and_a_one_class_holdout_say_why():
    scores = np.random.default_rng(5).random(500)
    labels = (scores > 0.5).astype(int)

    pr_auc = estimate("pr_auc", scores, labels, scores, holdout_value=0.9, higher_is_better=True)
    one_class = estimate("roc_auc", scores, np.zeros(500), scores, holdout_value=0.9, higher_is_better=True)

    assert pr_auc.value is None and "pr_auc" in pr_auc.note and LABEL in pr_auc.describe()
    assert one_class.value is None and "one class" in one_class.note


def test_a_regression_model_has_no_estimate(tmp_path):
    config = load_model_config(CHURN)
    regression = config.model_copy(update={"task": "regression", "primary_metric": "rmse"})
    frame = pd.DataFrame({"snapshot_at": pd.date_range("2026-03-01", periods=300, freq="h"), "x": 1.0})

    found = for_window(regression, lambda f: np.zeros(len(f)), frame, frame, None, 1.0)

    assert found.value is None and "regression" in found.note


def test_the_estimate_is_reported_and_never_changes_the_decision(tmp_path):
    config = load_model_config(CHURN)
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})
    reference, cur = windows(config, tmp_path, ["monthly_charges"])
    tracker = FakeTracker(FakeModel(["monthly_charges"]))
    ctx = context(config, settings, warehouse=sqlite_url(tmp_path), tracker=tracker)
    drift = monitor_steps.data_drift(ctx, reference, cur)
    perf = monitor_steps.performance(ctx, reference, cur)
    found = drift.estimate
    alarming = replace(found, value=0.05, gap=0.75)

    decisions = [
        monitor_steps.decide(ctx, variant, perf, retrain_running=False)
        for variant in (drift, replace(drift, estimate=alarming), replace(drift, estimate=None))
    ]

    assert found.metric == config.primary_metric and found.value is not None and LABEL in found.describe()
    assert PerformanceEstimate.from_dict(drift.to_xcom()["performance_estimate"]) == found
    assert decisions[0] == decisions[1] == decisions[2]


def test_the_monitoring_record_and_the_alert_carry_the_labelled_estimate():
    found = PerformanceEstimate("roc_auc", 0.7612, 0.8, 0.0388, 0.02, 900)
    plain = results(RETRAIN)
    estimated = replace(plain, drift=replace(plain.drift, estimate=found))

    metrics = run_metrics(estimated)
    alert = drift_alert("churn", RETRAIN.to_dict(), estimated.drift.to_xcom(), {}, "k")

    assert metrics["estimated_roc_auc"] == 0.7612 and metrics["estimated_drop"] == 0.0388
    assert "estimated_roc_auc" not in run_metrics(plain)
    assert f"roc_auc {LABEL}: 0.7612, holdout 0.8000, gap +0.0388 on 900 rows" in alert.lines
