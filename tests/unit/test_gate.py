from __future__ import annotations

import numpy as np
import pytest

from include.retraining.evaluation import ImprovementInterval, compute_metrics, paired_bootstrap
from include.retraining.gate import decide_promotion

pytestmark = pytest.mark.unit


def _interval(lower: float, difference: float = 0.01) -> ImprovementInterval:
    return ImprovementInterval("roc_auc", difference, lower, difference + 0.01, 0.95, 1000)


def _decide(**overrides):
    args = dict(
        metric="roc_auc",
        higher_is_better=True,
        threshold=0.7,
        min_improvement=0.0,
        challenger_value=0.8,
        champion_value=0.79,
        interval=_interval(0.002),
    )
    args.update(overrides)
    return decide_promotion(**args)


def test_first_model_is_promoted_on_threshold_alone() -> None:
    decision = _decide(champion_value=None, interval=None)
    assert decision.promote and "first model" in decision.reason


def test_threshold_floor_blocks_even_the_first_model() -> None:
    decision = _decide(challenger_value=0.65, champion_value=None, interval=None)
    assert not decision.promote and "floor" in decision.reason


def test_threshold_is_a_ceiling_for_lower_is_better_metrics() -> None:
    assert not _decide(metric="rmse", higher_is_better=False, threshold=10.0, challenger_value=12.0).promote
    assert _decide(metric="rmse", higher_is_better=False, threshold=10.0, challenger_value=9.0).promote


@pytest.mark.parametrize(
    ("lower", "min_improvement", "promote"),
    [
        (0.002, 0.0, True),
        (-0.001, 0.0, False),
        (0.0, 0.0, False),
        (0.004, 0.005, False),
        (0.006, 0.005, True),
    ],
)
def test_lower_bound_must_clear_min_improvement(lower: float, min_improvement: float, promote: bool) -> None:
    assert _decide(interval=_interval(lower), min_improvement=min_improvement).promote is promote


def _scores(rng: np.random.Generator, y: np.ndarray, signal: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=len(y)))))


def test_bootstrap_finds_a_clearly_better_model() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    interval = paired_bootstrap("roc_auc", y, _scores(rng, y, 1.5), _scores(rng, y, 0.5), samples=300)
    assert interval.lower > 0.1 and interval.lower < interval.difference < interval.upper


def test_bootstrap_of_a_model_against_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    scores = _scores(rng, y, 1.0)
    interval = paired_bootstrap("roc_auc", y, scores, scores, samples=200)
    assert interval.lower == interval.upper == interval.difference == 0.0


def test_bootstrap_sign_makes_lower_error_an_improvement() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=2000)
    better, worse = y + rng.normal(scale=0.5, size=2000), y + rng.normal(scale=1.5, size=2000)
    interval = paired_bootstrap("rmse", y, better, worse, samples=200)
    assert interval.lower > 0


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 800)
    a, b = _scores(rng, y, 1.0), _scores(rng, y, 0.9)
    assert paired_bootstrap("roc_auc", y, a, b, samples=100, seed=7) == paired_bootstrap(
        "roc_auc", y, a, b, samples=100, seed=7
    )


def test_metric_sets_per_task() -> None:
    y = np.array([0, 1, 0, 1])
    assert set(compute_metrics("classification", y, np.array([0.1, 0.9, 0.2, 0.7]))) == {
        "roc_auc",
        "pr_auc",
        "f1",
        "log_loss",
        "accuracy",
    }
    assert set(compute_metrics("regression", y + 1.0, np.array([1.1, 1.9, 1.2, 2.1]))) == {"rmse", "mae", "r2", "mape"}
