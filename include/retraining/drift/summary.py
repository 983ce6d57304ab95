"""What a data-drift check reports: per-column verdicts and the input checks they rest on.

`ColumnDrift` and `DriftSummary` are the contract between the Evidently adapter
(`report.py`, which produces them), the report's verdict section (`verdict.py`) and the monitor
steps; `from_dict` reads them back from a task's XCom. Nothing here imports Evidently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.config import repeated

NUMERIC = "numeric"
CATEGORICAL = "categorical"
ALL_NULL = "all_null"

# Evidently's methods: registered name -> (display name, is a p-value). The snapshot records the
# display name for auto-selected methods but the name as given for chosen ones; ColumnDrift
# always carries the display name. The direction (p-values drift when small, distances when
# large) is needed only for snapshots without test results, and for ranking severity.
METHODS: dict[str, tuple[str, bool]] = {
    "ks": ("K-S p_value", True),
    "chisquare": ("chi-square p_value", True),
    "z": ("Z-test p_value", True),
    "anderson": ("Anderson-Darling", True),
    "cramer_von_mises": ("Cramer-von Mises", True),
    "es": ("Epps-Singleton", True),
    "fisher_exact": ("Fisher's Exact test", True),
    "g_test": ("g_test", True),
    "mannw": ("Mann-Whitney U-rank test", True),
    "empirical_mmd": ("empirical_mmd", True),
    "t_test": ("t_test", True),
    "TVD": ("Total-Variation-Distance", True),
    "wasserstein": ("Wasserstein distance (normed)", False),
    "jensenshannon": ("Jensen-Shannon distance", False),
    "kl_div": ("Kullback-Leibler divergence", False),
    "psi": ("PSI", False),
    "hellinger": ("Hellinger distance", False),
    "ed": ("Energy-distance", False),
}
IS_P_VALUE = {display: p_value for display, p_value in METHODS.values()}


class DriftInputError(ValueError):
    """Frames or options that cannot be compared; the message names the column and the frame."""


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    stattest: str
    score: float
    threshold: float
    drifted: bool

    @property
    def severity(self) -> float:
        """How far past its threshold the score is: 1.0 at the threshold, larger is worse; a
        column that stopped arriving (all null) ranks above every measured one."""
        return _severity(self.stattest, self.score, self.threshold)

    def describe(self) -> str:
        if self.stattest == ALL_NULL:
            return f"{self.column} (no values in the current window)"
        sign = "<" if IS_P_VALUE.get(self.stattest) else ">="
        return f"{self.column} ({self.stattest} {self.score:.3g} {sign} {self.threshold:.3g})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": finite_or_none(self.score)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnDrift:
        score = data["score"]
        return cls(
            column=data["column"],
            kind=data["kind"],
            stattest=data["stattest"],
            score=float("nan") if score is None else float(score),
            threshold=float(data["threshold"]),
            drifted=bool(data["drifted"]),
        )


@dataclass(frozen=True)
class DriftSummary:
    n_reference: int
    n_current: int
    columns: dict[str, ColumnDrift]
    drifted_columns: list[str]
    drift_share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drift_share": self.drift_share,
            "drifted_columns": list(self.drifted_columns),
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSummary:
        return cls(
            n_reference=int(data["n_reference"]),
            n_current=int(data["n_current"]),
            columns={name: ColumnDrift.from_dict(column) for name, column in data["columns"].items()},
            drifted_columns=list(data["drifted_columns"]),
            drift_share=float(data["drift_share"]),
        )

    @classmethod
    def of(cls, columns: dict[str, ColumnDrift], n_reference: int = 0, n_current: int = 0) -> DriftSummary:
        """A summary of judged columns, drifted ones ordered worst first."""
        drifted = sorted(
            (c.column for c in columns.values() if c.drifted), key=lambda name: (-columns[name].severity, name)
        )
        return cls(n_reference, n_current, columns, drifted, len(drifted) / len(columns))


def crossed(method: str, score: float, threshold: float) -> bool:
    """Whether a score drifted, from the method's direction (p-values: small; distances: large)."""
    if method in IS_P_VALUE:
        return score < threshold if IS_P_VALUE[method] else score >= threshold
    raise DriftInputError(
        f"cannot tell whether method {method!r} drifted without Evidently's test results; "
        "run the report with include_tests=True"
    )


def check_features(numeric: Sequence[str], categorical: Sequence[str]) -> list[str]:
    features = [*numeric, *categorical]
    if not features:
        raise DriftInputError("no feature columns given: pass numeric and/or categorical")
    twice = repeated(features)
    if twice:
        raise DriftInputError(f"columns listed more than once across numeric/categorical: {twice}")
    return features


def check_frame(frame: pd.DataFrame, which: str, features: Sequence[str]) -> None:
    if len(frame) == 0:
        raise DriftInputError(f"{which} window is empty (0 rows): there is nothing to compare")
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DriftInputError(f"feature column(s) {missing} missing from the {which} frame")


def coerce_numeric(frame: pd.DataFrame, which: str, numeric: Sequence[str]) -> pd.DataFrame:
    """Numbers held as objects (ADBC hands PostgreSQL NUMERIC over as Decimal or text) as numbers;
    text that is not a number is an error naming the column."""
    converted = {}
    for column in numeric:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        try:
            converted[column] = pd.to_numeric(values.astype(object), errors="raise")
        except (TypeError, ValueError) as error:
            raise DriftInputError(
                f"column {column!r} is declared numeric but holds non-numbers in the {which} frame "
                f"({error}); cast it or declare it categorical"
            ) from error
    return frame.assign(**converted) if converted else frame


def all_null_columns(
    ref: pd.DataFrame, cur: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, ColumnDrift]:
    """Columns with no values in the current window, judged drifted (a feature that stops arriving
    is drift); a column with no values in the reference has no baseline and raises."""
    result: dict[str, ColumnDrift] = {}
    for kind, names in ((NUMERIC, numeric), (CATEGORICAL, categorical)):
        for column in names:
            if not _has_values(ref[column]):
                raise DriftInputError(
                    f"column {column!r} has no values in the reference frame: no baseline to compare against"
                )
            if not _has_values(cur[column]):
                result[column] = ColumnDrift(column, kind, ALL_NULL, 1.0, 1.0, True)
    return result


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """`value` with numpy scalars as Python ones and non-finite floats as None (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return finite_or_none(float(value))
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _has_values(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values):
        return bool(np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan)).any())
    return bool(values.notna().any())


def _severity(method: str, score: float, threshold: float) -> float:
    if method == ALL_NULL:
        return math.inf
    if math.isnan(score):
        return 0.0
    if IS_P_VALUE.get(method):
        # On a log scale, so p = 1e-10 ranks above p = 1e-3 instead of both rounding to zero.
        return -math.log10(max(score, 1e-300)) / -math.log10(min(max(threshold, 1e-300), 0.999))
    return score / threshold if threshold > 0 else score
