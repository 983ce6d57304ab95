"""An early warning before labels mature: the champion's expected primary metric on the current
window, estimated from its own scores (confidence-based performance estimation, CBPE).

If the champion's scores are calibrated, a row scored p is a positive with probability p, so the
expected confusion counts, and with them the expected metric, follow from the scores alone. Raw
scores are seldom calibrated: an isotonic map fitted on the champion's out-of-time holdout (scores
it never trained on, with their labels) turns them into probabilities first, and the holdout's
expected calibration error before that map is reported beside the estimate.

What it can see: a shift of the rows towards regions where the champion is less (or more) sure,
that is covariate shift in the features it uses. What it cannot: concept drift, where the same
rows get other labels; the calibrated map is the holdout's and stays so. It is reported as an
"estimate (labels not matured)" in the monitoring record, the Slack alert and the task log, and
is never read by the promotion gate or the trigger decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.common import sample_rows
from include.retraining.config import ModelConfig

LABEL = "estimate (labels not matured)"
_EPS = 1e-15
_ECE_BINS = 10


@dataclass(frozen=True)
class PerformanceEstimate:
    metric: str
    value: float | None  # the expected metric on the current window; None: not available
    holdout_value: float | None
    gap: float | None  # against the holdout value, positive = worse (as `performance.drop`)
    calibration_error: float | None  # the holdout's expected calibration error of the raw scores
    rows: int
    note: str = ""

    def describe(self) -> str:
        if self.value is None:
            return f"{self.metric} {LABEL}: not available ({self.note})"
        holdout = f", holdout {self.holdout_value:.4f}, gap {self.gap:+.4f}" if self.gap is not None else ""
        return f"{self.metric} {LABEL}: {self.value:.4f}{holdout} on {self.rows} rows"

    def to_dict(self) -> dict[str, Any]:
        """The fields and `text`, the labelled line the alert and the log show."""
        return {**asdict(self), "text": self.describe()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceEstimate:
        return cls(**{key: value for key, value in data.items() if key != "text"})


def expected_roc_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC with every row a positive of weight p and a negative of weight 1 - p: the expected
    pairs ranked right over the expected pairs (ties count half; a row never pairs with itself)."""
    scores, p = np.asarray(scores, dtype="float64"), np.asarray(p, dtype="float64")
    _, group = np.unique(scores, return_inverse=True)
    positive = np.bincount(group, weights=p)
    negative = np.bincount(group, weights=1 - p)
    below = np.cumsum(negative) - negative
    self_pairs = float(np.sum(p * (1 - p)))
    right = float(np.sum(positive * (below + 0.5 * negative))) - 0.5 * self_pairs
    pairs = float(positive.sum() * negative.sum()) - self_pairs
    return right / pairs if pairs > 0 else float("nan")


def expected_metric(name: str, scores: np.ndarray, p: np.ndarray) -> float | None:
    """The expected classification metric from the scores and their calibrated probabilities p;
    None for a metric with no estimate here (pr_auc)."""
    scores, p = np.asarray(scores, dtype="float64"), np.asarray(p, dtype="float64")
    predicted = scores >= 0.5
    if name == "roc_auc":
        return expected_roc_auc(scores, p)
    if name == "accuracy":
        return float(np.mean(np.where(predicted, p, 1 - p)))
    if name == "log_loss":
        clipped = np.clip(scores, _EPS, 1 - _EPS)
        return float(-np.mean(p * np.log(clipped) + (1 - p) * np.log(1 - clipped)))
    if name == "f1":
        tp, fp, fn = p[predicted].sum(), (1 - p[predicted]).sum(), p[~predicted].sum()
        return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn > 0 else 0.0
    return None


def calibrator(scores: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Scores -> probabilities: isotonic regression of the labels on the scores (the holdout's)."""
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    return lambda values: np.asarray(fitted.predict(np.asarray(values, dtype="float64")), dtype="float64")


def calibration_error(scores: np.ndarray, labels: np.ndarray) -> float:
    """Expected calibration error over 10 equal-width score bins: the row-weighted mean gap between
    the mean score and the share of positives in each bin."""
    scores, labels = np.asarray(scores, dtype="float64"), np.asarray(labels, dtype="float64")
    bins = np.clip((scores * _ECE_BINS).astype(int), 0, _ECE_BINS - 1)
    count = np.bincount(bins, minlength=_ECE_BINS)
    gap = np.abs(np.bincount(bins, weights=scores - labels, minlength=_ECE_BINS))
    return float(gap.sum() / max(count.sum(), 1))


def estimate(
    metric: str,
    holdout_scores: np.ndarray,
    holdout_labels: np.ndarray,
    current_scores: np.ndarray,
    *,
    holdout_value: float | None,
    higher_is_better: bool,
) -> PerformanceEstimate:
    """The expected `metric` on the current scores, calibrated on the holdout's scores and labels."""
    labels = np.asarray(holdout_labels, dtype="float64")
    rows = len(current_scores)
    if len(np.unique(labels)) < 2:
        return PerformanceEstimate(metric, None, holdout_value, None, None, rows, "the holdout holds one class only")
    probability = calibrator(holdout_scores, labels)
    value = expected_metric(metric, current_scores, probability(current_scores))
    ece = calibration_error(holdout_scores, labels)
    if value is None or not np.isfinite(value):
        return PerformanceEstimate(metric, None, holdout_value, None, ece, rows, f"no confidence-based {metric}")
    gap = None
    if holdout_value is not None:
        gap = holdout_value - value if higher_is_better else value - holdout_value
    return PerformanceEstimate(metric, float(value), holdout_value, gap, ece, rows)


def for_window(
    config: ModelConfig,
    score: Callable[[pd.DataFrame], np.ndarray],
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    served: np.ndarray | None,
    holdout_value: float | None,
) -> PerformanceEstimate:
    """The estimate of the monitor's window: calibrated on the champion's out-of-time holdout (the
    latest rows of its training snapshot, sampled as for the prediction PSI), applied to the
    window's scores (those it served, else re-scored)."""
    from include.retraining.learning import holdout_rows

    metric, max_rows, seed = config.primary_metric, config.monitor.max_rows, config.training.seed
    rows = len(served) if served is not None else min(len(current_frame), max_rows or len(current_frame))
    if config.task != "classification":
        note = (
            "not available for multiclass models yet (the estimate is calibrated for one positive-class probability)"
            if config.task == "multiclass"
            else "not available for regression (a confidence-based estimate needs class probabilities)"
        )
        return PerformanceEstimate(metric, None, holdout_value, None, None, rows, note)
    if config.target not in reference_frame.columns:
        note = f"the reference sample has no target column {config.target!r}"
        return PerformanceEstimate(metric, None, holdout_value, None, None, rows, note)
    holdout = sample_rows(holdout_rows(reference_frame, config), max_rows, seed).dropna(subset=[config.target])
    current_scores = served if served is not None else score(sample_rows(current_frame, max_rows, seed + 1))
    return estimate(
        metric,
        score(holdout),
        holdout[config.target].to_numpy(),
        current_scores,
        holdout_value=holdout_value,
        higher_is_better=config.higher_is_better,
    )
