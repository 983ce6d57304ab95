"""The leakage guard: a challenger too good to be true is blocked, naming what looks leaked.

Two cheap signs, both on the holdout the gate already scores:
- one feature alone nearly decides the target. Classification: the feature's own AUC (its values
  as scores, a missing value ranked first or last, whichever separates more), as the separation
  2 |AUC - 0.5|, so a feature that is perfect upside down counts too. Regression: the squared rank
  (Spearman) correlation with the target, on the rows where the feature is known. A categorical
  feature scores through its category means learned on the training split (a category the
  training split never saw gets the overall mean), so an id that is unique per row scores 0,
  not 1.
- a holdout figure of the model is at or beyond `gate.leakage.too_good` (roc_auc 0.995 unless
  the model file says otherwise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from include.retraining.config import LOWER_IS_BETTER, ModelConfig

# A score on the rows where a feature is known needs this many of them, and this share of the
# holdout: a perfect ranking of a handful of rows is chance, not a leak.
MIN_SCORED_ROWS = 20
MIN_SCORED_SHARE = 0.1


class LeakageSign(StrEnum):
    FEATURE = "feature"  # one feature alone nearly decides the holdout
    METRIC = "metric"  # the model's own holdout figure is too good to be true


@dataclass(frozen=True)
class LeakageSuspect:
    """What looked leaked: a feature (`name`, its `score`) or a metric (`name`, its holdout value),
    with the model-file key whose `limit` it reached."""

    sign: LeakageSign
    name: str
    score: float
    limit: float
    key: str
    measure: str  # what `score` is: "2|AUC - 0.5|", "rank R^2", or the metric's name

    def describe(self) -> str:
        if self.sign is LeakageSign.FEATURE:
            return (
                f"feature {self.name!r} alone nearly decides the holdout's target "
                f"({self.measure} {self.score:.4f} >= {self.key} {self.limit:g})"
            )
        return (
            f"holdout {self.measure} {self.score:.4f} is too good to be true (at or beyond {self.key} {self.limit:g})"
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sign": self.sign.value}


def _separation(y: np.ndarray, scores: np.ndarray) -> float:
    """2 |AUC - 0.5| of `scores` for the binary labels `y` (midranks: ties count one half)."""
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        return float("nan")
    auc = (rankdata(scores)[positive].sum() - m * (m + 1) / 2) / (m * n)
    return float(abs(2 * auc - 1))


def _enough(known: np.ndarray) -> bool:
    return int(known.sum()) >= max(MIN_SCORED_ROWS, MIN_SCORED_SHARE * len(known))


def _rank_r2(y: np.ndarray, values: np.ndarray) -> float:
    known = ~np.isnan(values)
    if not _enough(known):
        return float("nan")
    a, b = rankdata(values[known]), rankdata(y[known])
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def _numeric_score(task: str, y: np.ndarray, values: np.ndarray) -> float:
    if task == "regression":
        return _rank_r2(y, values)
    known = ~np.isnan(values)
    # A missing value ranked below, then above, every known one (a column filled only for one
    # class, a cancellation date for churners, separates through its nulls); then the known
    # values alone (a leak need not be filled on every row).
    scores = [_separation(y, np.where(known, values, missing)) for missing in (-np.inf, np.inf)]
    if _enough(known):
        scores.append(_separation(y[known], values[known]))
    return max((s for s in scores if not np.isnan(s)), default=float("nan"))  # NaN: one class among them


def _category_means(config: ModelConfig, train: pd.DataFrame, holdout: pd.DataFrame, column: str) -> np.ndarray:
    """The holdout's values of a categorical feature as its categories' target means in the training
    split (a one-feature model fit there, scored here); unseen categories get the overall mean."""
    target = pd.to_numeric(train[config.target], errors="coerce")
    labelled = target.notna()
    keys = train.loc[labelled, column].astype("string").fillna("")
    means = target[labelled].groupby(keys.to_numpy()).mean()
    mapped = holdout[column].astype("string").fillna("").map(means)
    return pd.to_numeric(mapped, errors="coerce").fillna(float(target[labelled].mean())).to_numpy(dtype="float64")


def feature_scores(config: ModelConfig, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    """Each feature's own score on the holdout (module docstring); NaN when it cannot be scored.
    `holdout` holds labelled rows only. A multiclass model's feature scores its best class against
    the rest (a feature that gives one class away is a leak, whatever it says of the others)."""
    if config.task == "multiclass":
        return _one_vs_rest_scores(config, train, holdout)
    y = pd.to_numeric(holdout[config.target], errors="coerce").to_numpy(dtype="float64")
    scores = {}
    for column in config.features.numeric:
        values = pd.to_numeric(holdout[column], errors="coerce").to_numpy(dtype="float64")
        scores[column] = _numeric_score(config.task, y, np.where(np.isinf(values), np.nan, values))
    for column in config.features.categorical:
        values = _category_means(config, train, holdout, column)
        scores[column] = _rank_r2(y, values) if config.task == "regression" else _separation(y, values)
    return scores


def _one_vs_rest_scores(config: ModelConfig, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    from include.retraining.learning.multiclass import class_names

    target, binary = config.target, config.model_copy(update={"task": "classification"})

    def one_vs_rest(frame: pd.DataFrame, name: str) -> pd.DataFrame:  # unlabelled rows stay unlabelled
        hit = (class_names(frame[target]) == name).astype("float64")
        return frame.assign(**{target: np.where(frame[target].isna(), np.nan, hit)})

    best: dict[str, float] = {}
    for name in sorted(set(class_names(holdout[target]))):
        one = feature_scores(binary, one_vs_rest(train, name), one_vs_rest(holdout, name))
        best = {c: np.fmax(best.get(c, np.nan), s) for c, s in one.items()}
    return {c: float(s) for c, s in best.items()}


def _too_good(metric: str, value: float, limit: float) -> bool:
    return value <= limit if metric in LOWER_IS_BETTER else value >= limit


def leakage_suspects(
    config: ModelConfig, scores: dict[str, float], holdout_metrics: dict[str, float]
) -> tuple[LeakageSuspect, ...]:
    """The features and holdout figures past `gate.leakage`'s limits, features first, best first."""
    rules = config.gate.leakage
    suspects = []
    if rules.single_feature is not None:
        key, measure = "gate.leakage.single_feature", "rank R^2" if config.task == "regression" else "2|AUC - 0.5|"
        ranked = sorted(((s, c) for c, s in scores.items() if s >= rules.single_feature), reverse=True)
        suspects += [LeakageSuspect(LeakageSign.FEATURE, c, s, rules.single_feature, key, measure) for s, c in ranked]
    for metric, limit in rules.limits(config.task).items():
        value = holdout_metrics.get(metric)
        if value is not None and _too_good(metric, value, limit):
            key = f"gate.leakage.too_good.{metric}"
            suspects.append(LeakageSuspect(LeakageSign.METRIC, metric, value, limit, key, metric))
    return tuple(suspects)


def leakage_reason(suspects: tuple[LeakageSuspect, ...], scores: dict[str, float]) -> str:
    """The gate's reason for a block on leakage: what looked leaked, and the fix."""
    found = "; ".join(s.describe() for s in suspects)
    features = [s.name for s in suspects if s.sign is LeakageSign.FEATURE]
    if features:
        fix = (
            f"drop {', '.join(repr(f) for f in features)} from `features` in the model file, or fix the "
            "upstream join that fills such a column from the target; if the relation is real, raise "
            "gate.leakage.single_feature"
        )
    else:
        known = sorted(((s, c) for c, s in scores.items() if not np.isnan(s)), reverse=True)
        best = f" (the best single feature: {known[0][1]!r} at {known[0][0]:.4f})" if known else ""
        metric = next(s for s in suspects if s.sign is LeakageSign.METRIC)
        fix = (
            f"no single feature explains it{best}: look for features derived from the target or filled "
            f"from it by an upstream join, and drop them; if the figure is real, raise {metric.key}"
        )
    return f"label leakage suspected: {found}. Fix: {fix}"
