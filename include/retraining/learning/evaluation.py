"""Holdout metrics, and the challenger-minus-champion difference with a one-sided bound.

The difference is measured on the same rows for both models (paired), so the noise both share
(which rows are hard) cancels. Each metric gets the cheapest method that gives the interval the
old 1,000-resample percentile bootstrap gave (`docs/benchmarks.md`, "Gate evaluation"):
- roc_auc: DeLong's paired test, from midranks: O(n log n), once.
- metrics that are smooth functions of per-row means (log loss, accuracy, f1, mae, rmse, r2,
  wape): the delta method on each row's influence on the metric: O(n), once.
- pr_auc: a bootstrap, but each resample reweights rows of scores sorted once: O(n) per resample.
A multiclass model's scores are a frame of class probabilities: learning/multiclass.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn import metrics as skm

from include.retraining.config import LOWER_IS_BETTER, METRICS
from include.retraining.learning.multiclass import multiclass_difference, multiclass_value
from include.retraining.learning.training import TrainingDataError

_RANKED = frozenset({"roc_auc", "pr_auc"})


def wape(y_true: np.ndarray, predictions: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |error| / sum |actual|. Unlike MAPE it stays finite
    when some targets are zero; it is NaN only when every target is zero."""
    total = float(np.abs(y_true).sum())
    return float(np.abs(y_true - predictions).sum() / total) if total > 0 else float("nan")


def metric_value(name: str, y_true: np.ndarray, scores: np.ndarray | pd.DataFrame) -> float:
    """One metric; classification scores are positive-class probabilities, multiclass scores a
    frame of class probabilities."""
    if isinstance(scores, pd.DataFrame):
        return multiclass_value(name, y_true, scores)
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype="float64")
    if name == "roc_auc":
        return float(skm.roc_auc_score(y_true, scores))
    if name == "pr_auc":
        return float(skm.average_precision_score(y_true, scores))
    if name == "f1":
        return float(skm.f1_score(y_true, scores >= 0.5, zero_division=0.0))
    if name == "accuracy":
        return float(skm.accuracy_score(y_true, scores >= 0.5))
    if name == "log_loss":
        return float(skm.log_loss(y_true, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1]))
    if name == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, scores)))
    if name == "mae":
        return float(skm.mean_absolute_error(y_true, scores))
    if name == "r2":
        return float(skm.r2_score(y_true, scores))
    if name == "wape":
        return wape(np.asarray(y_true, dtype="float64"), scores)
    raise ValueError(f"unknown metric {name!r}")


def compute_metrics(task: str, y_true: np.ndarray, scores: np.ndarray | pd.DataFrame) -> dict[str, float]:
    return {name: metric_value(name, y_true, scores) for name in METRICS[task]}


def check_holdout(model: str, task: str, y_true: np.ndarray) -> None:
    """A classifier's holdout needs both classes, or no ranking metric exists to compare on."""
    if task == "regression":
        return
    classes = pd.Series(np.asarray(y_true)).nunique()
    if classes < 2:
        raise TrainingDataError(
            f"model {model!r}: the holdout split (the latest training.holdout_fraction of the window) "
            f"has {classes} class(es) among {len(y_true)} labelled rows, so the gate cannot compare "
            "models; widen training.window_days or training.holdout_fraction, or check the labels"
        )


@dataclass(frozen=True)
class ImprovementInterval:
    """Challenger minus champion in one metric, signed so that positive is better.

    `lower` and `upper` are one-sided bounds at `confidence` each. `samples` counts the resamples
    behind a bootstrap interval (0 for the closed-form methods).
    """

    metric: str
    difference: float
    lower: float
    upper: float
    confidence: float
    method: str
    rows: int
    samples: int = 0

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def paired_comparison(
    metric: str,
    y_true: np.ndarray,
    challenger_scores: np.ndarray | pd.DataFrame,
    champion_scores: np.ndarray | pd.DataFrame,
    *,
    confidence: float = 0.95,
    samples: int = 1000,
    seed: int = 0,
) -> ImprovementInterval:
    """The one-sided interval of the challenger's improvement over the champion on shared rows.

    `samples` and `seed` matter only for pr_auc, the one metric without a closed form here.
    Raises ValueError for a ranking metric on labels of one class (check_holdout names the model).
    """
    if isinstance(challenger_scores, pd.DataFrame) and isinstance(champion_scores, pd.DataFrame):
        return _multiclass_comparison(metric, y_true, challenger_scores, champion_scores, confidence)
    y_true = np.asarray(y_true)
    challenger = np.asarray(challenger_scores, dtype="float64")
    champion = np.asarray(champion_scores, dtype="float64")
    if metric in _RANKED and np.unique(y_true).size < 2:
        raise ValueError(f"{metric} needs both classes in the labels")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    z = NormalDist().inv_cdf(confidence)
    if metric == "pr_auc":
        point, lower, upper, done = _resampled_ap(y_true, challenger, champion, confidence, samples, seed)
        return ImprovementInterval(metric, point, lower, upper, confidence, "weighted_bootstrap", len(y_true), done)
    if metric == "roc_auc":
        difference, se = _delong(y_true.astype(bool), challenger, champion)
        method = "delong"
    else:
        difference, se = _delta_method(metric, y_true, challenger, champion)
        method = "delta_method"
    difference *= sign
    return ImprovementInterval(
        metric,
        float(difference),
        float(difference - z * se),
        float(difference + z * se),
        confidence,
        method,
        len(y_true),
    )


def _multiclass_comparison(
    metric: str, y: np.ndarray, challenger: pd.DataFrame, champion: pd.DataFrame, confidence: float
) -> ImprovementInterval:
    difference, se = multiclass_difference(metric, y, challenger, champion)
    difference *= -1.0 if metric in LOWER_IS_BETTER else 1.0
    z = NormalDist().inv_cdf(confidence)
    method = "delong_ovr" if metric == "roc_auc_ovr" else "paired_rows"
    return ImprovementInterval(
        metric, float(difference), float(difference - z * se), float(difference + z * se), confidence, method, len(y)
    )


def _delong(positive: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """AUC(a) - AUC(b) and its standard error (DeLong, DeLong & Clarke-Pearson 1988; the midrank
    form of Sun & Xu 2014). Ties count one half, as in roc_auc_score."""
    m, n = int(positive.sum()), int((~positive).sum())
    components = []
    for scores in (a, b):
        pos, neg = scores[positive], scores[~positive]
        overall = rankdata(np.concatenate([pos, neg]))
        # For each positive, the share of negatives it outranks; for each negative, the share of
        # positives that outrank it. Their means are the AUC.
        components.append(((overall[:m] - rankdata(pos)) / n, 1.0 - (overall[m:] - rankdata(neg)) / m))
    d10 = components[0][0] - components[1][0]
    d01 = components[0][1] - components[1][1]
    variance = (d10.var(ddof=1) if m > 1 else 0.0) / m + (d01.var(ddof=1) if n > 1 else 0.0) / n
    return float(d10.mean()), float(np.sqrt(variance))


def _influence(metric: str, y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray]:
    """The metric's value and each row's influence on it (zero mean): the metric's first-order
    change per row, so var(influence) / n is its delta-method variance."""
    if metric == "log_loss":
        p = np.clip(s, 1e-15, 1 - 1e-15)
        loss = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        return float(loss.mean()), loss - loss.mean()
    if metric == "accuracy":
        correct = ((s >= 0.5) == (y == 1)).astype("float64")
        return float(correct.mean()), correct - correct.mean()
    if metric == "f1":  # 2 TP / (predicted positives + actual positives), all as per-row means
        predicted, actual = (s >= 0.5).astype("float64"), (y == 1).astype("float64")
        denominator = predicted.mean() + actual.mean()
        if denominator == 0:
            return 0.0, np.zeros(len(y))
        value = 2 * (predicted * actual).mean() / denominator
        return float(value), (2 * predicted * actual - value * (predicted + actual)) / denominator
    error = s - y
    if metric == "mae":
        return float(np.abs(error).mean()), np.abs(error) - np.abs(error).mean()
    if metric == "rmse":
        mse = float((error**2).mean())
        value = np.sqrt(mse)
        return float(value), (error**2 - mse) / (2 * value) if value > 0 else np.zeros(len(y))
    if metric == "wape":
        total = float(np.abs(y).mean())
        value = wape(y, s)
        return value, (np.abs(error) - value * np.abs(y)) / total if total > 0 else np.full(len(y), np.nan)
    if metric == "r2":
        squares, spread = error**2, (y - y.mean()) ** 2
        mse, variance = float(squares.mean()), float(spread.mean())
        if variance == 0:
            return float("nan"), np.full(len(y), np.nan)
        return 1 - mse / variance, -(squares - mse) / variance + mse * (spread - variance) / variance**2
    raise ValueError(f"unknown metric {metric!r}")


def _delta_method(metric: str, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    y = y.astype("float64")
    value_a, influence_a = _influence(metric, y, a)
    value_b, influence_b = _influence(metric, y, b)
    d = influence_a - influence_b
    return value_a - value_b, float(np.sqrt(d.var(ddof=1) / len(y))) if len(y) > 1 else 0.0


class _SortedAP:
    """Average precision of one model's scores under row weights, with the sort done once."""

    def __init__(self, positive: np.ndarray, scores: np.ndarray) -> None:
        self.order = np.argsort(-scores, kind="stable")
        self.positive = positive[self.order].astype("float64")
        ranked = scores[self.order]
        # The last row of each run of equal scores: one threshold per distinct score.
        self.ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))

    def value(self, weights: np.ndarray) -> float:
        w = weights[self.order]
        true_pos = np.cumsum(w * self.positive)[self.ends]
        flagged = np.cumsum(w)[self.ends]
        if true_pos[-1] <= 0:
            return float("nan")
        precision = np.divide(true_pos, flagged, out=np.zeros_like(true_pos), where=flagged > 0)
        recall_steps = np.diff(true_pos, prepend=0.0) / true_pos[-1]
        return float((recall_steps * precision).sum())


def _resampled_ap(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, confidence: float, samples: int, seed: int
) -> tuple[float, float, float, int]:
    """Percentile interval of AP(a) - AP(b) over resamples drawn as in a row bootstrap (multinomial
    counts), each evaluated in O(n) on the presorted scores."""
    positive = y == 1
    models = (_SortedAP(positive, a), _SortedAP(positive, b))
    n = len(y)
    point = models[0].value(np.ones(n)) - models[1].value(np.ones(n))
    rng = np.random.default_rng(seed)
    differences = np.empty(samples)
    for i in range(samples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype("float64")
        differences[i] = models[0].value(counts) - models[1].value(counts)
    differences = differences[~np.isnan(differences)]
    if differences.size == 0:
        return float(point), float("nan"), float("nan"), 0
    lower, upper = np.quantile(differences, [1 - confidence, confidence])
    return float(point), float(lower), float(upper), int(differences.size)
