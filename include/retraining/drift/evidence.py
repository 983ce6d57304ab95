"""The trigger policy's drift evidence: per-column tests with multiple-testing control, weighted
by how much the champion's scores depend on each column.

Vectorised numpy/scipy, no Evidently: the same functions run in the monitor's `data_drift` step
and in `bench/decisions.py`, which replays hundreds of windows. Per column: a p-value (two-sample
Kolmogorov-Smirnov for numbers, chi-square of homogeneity for categories) and an effect size
(Wasserstein distance in reference standard deviations, as Evidently's "normed" one; total
variation distance for categories). A column drifted when its Benjamini-Hochberg adjusted p-value
is at most `fdr` and its effect is at least `min_effect`: the p-value accounts for the window
size (noise at 500 rows is not drift), the effect floor keeps a 50,000-row window from flagging a
shift too small to matter.

With a seasonal reference (`trigger.seasonal_reference`: the same window a season ago, or the
previous window) a column counts as drifted only when it also drifted against that reference: a
swing that recurs every season is not drift. Without its rows the verdicts stand as above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.config import TriggerConfig

_NULL = "<null>"


@dataclass(frozen=True)
class ColumnEvidence:
    column: str
    p_value: float
    q_value: float
    effect: float
    importance: float
    drifted: bool
    # Drifted against the champion's data but not against the seasonal reference: not counted.
    seasonal_masked: bool = False


@dataclass(frozen=True)
class SeasonalEvidence:
    """The seasonal reference a window was also compared with: which one, its rows (0: none
    read, so the champion's data alone decided) and why not, when not."""

    mode: str = "none"
    rows: int = 0
    note: str = ""


NO_SEASONAL = SeasonalEvidence()


@dataclass(frozen=True)
class DriftEvidence:
    """What the trigger policy decides on; crosses XCom as `to_dict()`."""

    champion_version: str
    n_reference: int
    n_current: int
    columns: dict[str, ColumnEvidence]
    seasonal: SeasonalEvidence = NO_SEASONAL

    @property
    def seasonal_masked(self) -> list[str]:
        return sorted(c.column for c in self.columns.values() if c.seasonal_masked)

    @property
    def drifted(self) -> list[str]:
        """Drifted columns, most important first."""
        chosen = [c for c in self.columns.values() if c.drifted]
        return [c.column for c in sorted(chosen, key=lambda c: (-c.importance * c.effect, c.column))]

    @property
    def weighted_drift(self) -> float:
        return float(sum(c.importance * c.effect for c in self.columns.values() if c.drifted))

    def importance_of(self, columns: Sequence[str]) -> float:
        return float(sum(self.columns[c].importance for c in columns if c in self.columns))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "columns": {name: asdict(c) for name, c in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftEvidence:
        return cls(
            champion_version=str(data["champion_version"]),
            n_reference=int(data["n_reference"]),
            n_current=int(data["n_current"]),
            columns={name: ColumnEvidence(**column) for name, column in data["columns"].items()},
            seasonal=SeasonalEvidence(**data.get("seasonal", {})),
        )


def sorted_reference(reference: pd.DataFrame, numeric: Sequence[str]) -> dict[str, np.ndarray]:
    """The numeric columns' finite reference values, sorted: sort once, test many windows."""
    return {c: np.sort(_finite(reference[c])) for c in numeric}


def column_tests(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    presorted: Mapping[str, np.ndarray] | None = None,
) -> dict[str, tuple[float, float]]:
    """Column -> (p-value, effect size) of the current window against the reference
    (`presorted`: `sorted_reference(reference, numeric)`, when several windows share it)."""
    ref = presorted if presorted is not None else sorted_reference(reference, numeric)
    result = {c: _numeric_test(ref[c], np.sort(_finite(current[c]))) for c in numeric}
    result.update({c: _categorical_test(reference[c], current[c]) for c in categorical})
    return result


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Adjusted p-values (q-values) of the step-up procedure; NaN counts as 1."""
    p = np.nan_to_num(np.asarray(p_values, dtype="float64"), nan=1.0)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(adjusted, 1.0)
    return q


def score_sensitivity(
    score: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame, columns: Sequence[str], *, rows: int, seed: int
) -> dict[str, float]:
    """Each column's share of the champion's sensitivity: the mean absolute change of its scores
    when that column alone is shuffled across `rows` reference rows. Needs no labels; shares sum
    to 1 (equal shares when no column moves the scores)."""
    rng = np.random.default_rng(seed)
    sample = frame.iloc[np.sort(rng.choice(len(frame), size=min(rows, len(frame)), replace=False))]
    sample = sample.reset_index(drop=True)
    base = np.asarray(score(sample), dtype="float64")
    change = {}
    for column in columns:
        shuffled = sample.assign(**{column: sample[column].to_numpy()[rng.permutation(len(sample))]})
        change[column] = float(np.nanmean(np.abs(np.asarray(score(shuffled), dtype="float64") - base)))
    total = sum(change.values())
    if not np.isfinite(total) or total <= 0:
        return {column: 1.0 / len(columns) for column in columns}
    return {column: value / total for column, value in change.items()}


def drift_evidence(
    tests: Mapping[str, tuple[float, float]],
    importance: Mapping[str, float],
    config: TriggerConfig,
    *,
    champion_version: str,
    n_reference: int,
    n_current: int,
    seasonal_tests: Mapping[str, tuple[float, float]] | None = None,
    seasonal: SeasonalEvidence = NO_SEASONAL,
) -> DriftEvidence:
    """Per-column verdicts: BH-adjusted p-value <= `fdr` and effect >= `min_effect`, against the
    champion's data and, with `seasonal_tests` (the same columns against the seasonal reference),
    against that reference too."""
    verdicts = _verdicts(tests, config)
    again = _verdicts(seasonal_tests, config) if seasonal_tests is not None else None
    columns = {}
    for name, (p, q, effect, drifted) in verdicts.items():
        # A column with no values a season ago (NaN p-value) is not explained by the season.
        masked = bool(drifted and again and name in again and np.isfinite(again[name][0]) and not again[name][3])
        columns[name] = ColumnEvidence(
            name, p, q, effect, float(importance.get(name, 0.0)), drifted and not masked, masked
        )
    return DriftEvidence(champion_version, n_reference, n_current, columns, seasonal)


def _verdicts(
    tests: Mapping[str, tuple[float, float]], config: TriggerConfig
) -> dict[str, tuple[float, float, float, bool]]:
    """Column -> (p-value, BH q-value, effect, drifted)."""
    names = list(tests)
    q_values = benjamini_hochberg([tests[name][0] for name in names])
    return {
        name: (
            float(tests[name][0]),
            float(q),
            float(tests[name][1]),
            bool(q <= config.fdr and tests[name][1] >= config.min_effect),
        )
        for name, q in zip(names, q_values, strict=True)
    }


def _finite(values: pd.Series) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return array[np.isfinite(array)]


def _numeric_test(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Of two sorted samples: the two-sample KS p-value (asymptotic Kolmogorov distribution) and the Wasserstein-1 distance
    over the reference's SD, both from the two empirical CDFs on the pooled values: one merge, so
    hundreds of windows replay in seconds (scipy's ks_2samp + wasserstein_distance sort 3 times)."""
    from scipy.special import kolmogorov

    if ref.size == 0:
        return float("nan"), 0.0
    if cur.size == 0:  # a feature that stopped arriving has drifted
        return 0.0, 1.0
    values = np.concatenate([ref, cur])
    order = np.argsort(values, kind="stable")  # two sorted runs: a linear merge
    pooled = values[order]
    from_ref = order < ref.size
    # The CDFs just after each pooled value; where the next value ties, the step is not done yet.
    cdf_ref = np.cumsum(from_ref)[:-1] / ref.size
    cdf_cur = np.cumsum(~from_ref)[:-1] / cur.size
    gap = np.diff(pooled)
    distance = np.abs(cdf_ref - cdf_cur)
    steps = distance[gap > 0]
    size = ref.size * cur.size / (ref.size + cur.size)
    p_value = float(kolmogorov(np.sqrt(size) * steps.max())) if steps.size else 1.0
    return p_value, float(np.dot(distance, gap)) / max(float(np.std(ref)), 1e-3)


def _categorical_test(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    from scipy.stats import chi2_contingency

    ref = reference.astype(object).where(reference.notna(), _NULL).astype(str).value_counts()
    cur = current.astype(object).where(current.notna(), _NULL).astype(str).value_counts()
    table = pd.concat([ref, cur], axis=1).fillna(0.0).to_numpy(dtype="float64").T
    shares = table / table.sum(axis=1, keepdims=True)
    effect = 0.5 * float(np.abs(shares[0] - shares[1]).sum())
    if table.shape[1] < 2:
        return 1.0, effect
    return float(chi2_contingency(table, correction=False).pvalue), effect
