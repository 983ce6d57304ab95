"""Drift monitoring: per-column data drift (Evidently), prediction drift (PSI) and the decision
to retrain.

`compute_data_drift` runs Evidently's `DataDriftPreset` over the declared feature columns of a
reference and a current window and returns a `DriftSummary`; `decide` turns that summary, the
prediction PSI and the matured-label performance drop into a `DriftDecision`. Nothing here reads
the clock: the monitoring run's logical time comes in as `now`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
ALL_NULL = "all_null"

# Evidently picks p-value tests (K-S, chi-square, z) when the reference has <= 1000 rows and
# distances (normed Wasserstein, Jensen-Shannon; drift at >= 0.1) above, so past a few thousand
# rows more rows only make a distance estimate more precise (noise ~ 1/sqrt(n)) while the cost
# keeps growing linearly. Simulated (normal data, 200 repeats): at 20,000 rows per window the
# normed Wasserstein distance between identical distributions averages 0.013 (99.9th
# percentile 0.039; at 1,000 rows it is 0.16, i.e. false alarms) and its standard deviation at
# a true 0.1-SD shift is 0.010, so only columns within about +-0.02 of the threshold can be
# judged differently than on the full data; a 6-category Jensen-Shannon distance stays below
# 0.015. 5,000 rows would double that band; 50,000 would narrow it by a third for 1.6x the time
# (20 columns: 1.4 s, 2.6 s, 4.0 s).
DEFAULT_MAX_ROWS = 20_000
# At or below 1000 reference rows Evidently switches to p-value tests, so a cap that low would
# change the test (not just its precision) compared with the full-data run.
_MIN_MAX_ROWS = 1_001

# Evidently's methods: registered name -> (display name, is a p-value). The snapshot records the
# display name for auto-selected methods but the name as given for chosen ones; ColumnDrift
# always carries the display name. The direction (p-values drift when small, distances when
# large) is needed only for snapshots without test results, and for ranking severity.
_METHODS: dict[str, tuple[str, bool]] = {
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
_IS_P_VALUE = {display: p_value for display, p_value in _METHODS.values()}

_PSI_BINS = 10
# Floor for empty bins: without it one bin that is empty in either window makes PSI infinite.
_PSI_EPSILON = 1e-4


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

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": _finite_or_none(self.score)}


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


@dataclass(frozen=True)
class MonitorThresholds:
    drift_share: float = 0.3
    critical_features: tuple[str, ...] = ()
    prediction_psi: float = 0.2
    performance_drop: float = 0.05
    cooldown_hours: float = 24
    min_rows: int = 200

    def __post_init__(self) -> None:
        if not 0.0 < self.drift_share <= 1.0:
            raise ValueError(f"drift_share must be in (0, 1], got {self.drift_share}")
        if self.prediction_psi <= 0.0 or self.performance_drop <= 0.0:
            raise ValueError("prediction_psi and performance_drop must be positive")
        if self.cooldown_hours < 0 or self.min_rows < 0:
            raise ValueError("cooldown_hours and min_rows must not be negative")


@dataclass(frozen=True)
class DriftDecision:
    retrain: bool
    drift_detected: bool
    reasons: list[str]
    blocked_by: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    stattest: str | dict[str, str] | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    seed: int = 0,
    html_path: Path | None = None,
    json_path: Path | None = None,
    drift_share: float = 0.5,
) -> DriftSummary:
    """Per-column drift of the feature columns between two windows.

    Frames longer than `max_rows` are replaced by a uniform random sample of `max_rows` rows,
    fixed by `seed` (reference: `sample_rows(reference, max_rows, seed)`, so a caller may
    pre-sample it once; current: seed + 1). `stattest` is one Evidently method for every column,
    or a dict keyed by column name and/or "numeric"/"categorical"; a column key wins over its
    type. A column with no values in the current window counts as drifted (stattest "all_null",
    score = its null share); one with no values in the reference raises `DriftInputError`.
    `drift_share` only sets the dataset-level line drawn in Evidently's HTML report.
    """
    features = _check_features(numeric, categorical)
    _check_frame(reference, "reference", features)
    _check_frame(current, "current", features)
    if max_rows is not None and max_rows < _MIN_MAX_ROWS:
        raise ValueError(
            f"max_rows={max_rows} is too small: Evidently switches to p-value tests at <= 1000 "
            f"rows; use at least {_MIN_MAX_ROWS} or None for no sampling"
        )
    options = _preset_options(stattest, numeric, categorical)

    ref = sample_rows(reference, max_rows, seed).loc[:, features]
    cur = sample_rows(current, max_rows, seed + 1).loc[:, features]
    all_null = _all_null_columns(ref, cur, numeric, categorical)
    ref = _coerce_numeric(ref, "reference", [c for c in numeric if c not in all_null])
    cur = _coerce_numeric(cur, "current", [c for c in numeric if c not in all_null])

    evaluated_numeric = [c for c in numeric if c not in all_null]
    evaluated_categorical = [c for c in categorical if c not in all_null]
    snapshot = None
    snapshot_dict: dict[str, Any] = {"metrics": [], "tests": []}
    if evaluated_numeric or evaluated_categorical:
        snapshot = _run_report(
            _plain_dtypes(ref, evaluated_numeric, evaluated_categorical),
            _plain_dtypes(cur, evaluated_numeric, evaluated_categorical),
            evaluated_numeric,
            evaluated_categorical,
            options,
            drift_share,
        )
        snapshot_dict = snapshot.dict()

    summary = summarize_snapshot(
        snapshot_dict,
        numeric,
        categorical,
        n_reference=len(ref),
        n_current=len(cur),
        precomputed=all_null,
    )
    if html_path is not None:
        _write_html(Path(html_path), snapshot, summary)
    if json_path is not None:
        payload = {"summary": summary.to_dict(), "evidently": snapshot_dict}
        _write_atomic(Path(json_path), json.dumps(_json_safe(payload), indent=2, allow_nan=False))
    return summary


def sample_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """`frame` itself when it has at most `max_rows` rows, else a uniform sample of `max_rows`
    rows in their original order; the same frame and seed always give the same rows."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[positions].reset_index(drop=True)


def summarize_snapshot(
    snapshot_dict: Mapping[str, Any],
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    n_reference: int = 0,
    n_current: int = 0,
    precomputed: Mapping[str, ColumnDrift] | None = None,
) -> DriftSummary:
    """Parse an Evidently 0.7 snapshot `.dict()` of a `DataDriftPreset` run.

    Each column comes from its `ValueDrift` metric (config: column, method, threshold; value:
    the score). Whether it drifted is Evidently's own verdict from the matching test result
    (`Report(..., include_tests=True)`); without tests it is derived from the method's
    direction. Row counts are not in the snapshot and are passed in (0 = unknown).
    `precomputed` holds columns judged without Evidently (all-null ones).
    """
    found = _value_drift_entries(snapshot_dict)
    verdicts = _test_verdicts(snapshot_dict)
    precomputed = dict(precomputed or {})
    columns: dict[str, ColumnDrift] = {}
    for kind, names in ((NUMERIC, numeric), (CATEGORICAL, categorical)):
        for name in names:
            if name in precomputed:
                columns[name] = precomputed[name]
                continue
            if name not in found:
                raise DriftInputError(f"the Evidently snapshot has no ValueDrift metric for column {name!r}")
            metric_id, method, score, threshold = found[name]
            method = _METHODS.get(method, (method, None))[0]
            drifted = verdicts.get(metric_id, verdicts.get(name))
            if drifted is None:
                drifted = _crossed(method, score, threshold)
            columns[name] = ColumnDrift(name, kind, method, score, threshold, drifted)
    if not columns:
        raise DriftInputError("no feature columns to summarise: pass numeric and/or categorical")
    drifted_columns = sorted(
        (c.column for c in columns.values() if c.drifted),
        key=lambda name: (-columns[name].severity, name),
    )
    return DriftSummary(
        n_reference=n_reference,
        n_current=n_current,
        columns=columns,
        drifted_columns=drifted_columns,
        drift_share=len(drifted_columns) / len(columns),
    )


def prediction_drift(reference_scores: np.ndarray, current_scores: np.ndarray) -> float:
    """Population Stability Index of the model's scores, current against reference.

    Bins are the reference deciles (10 quantile bins, ties merged, open-ended outer bins), so
    any score scale works and a constant score collapses to the bins around that constant.
    Empty bins are floored at 1e-4. NaN and infinite scores are dropped. By convention PSI
    below 0.1 is stable, 0.1-0.2 a moderate shift and above 0.2 a significant one.
    """
    ref = _finite(reference_scores, "reference")
    cur = _finite(current_scores, "current")
    inner_edges = np.unique(np.quantile(ref, np.linspace(0, 1, _PSI_BINS + 1)[1:-1]))
    ref_share = _bin_shares(ref, inner_edges)
    cur_share = _bin_shares(cur, inner_edges)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def decide(
    summary: DriftSummary | None,
    *,
    prediction_psi: float | None,
    performance_drop: float | None,
    thresholds: MonitorThresholds,
    last_trigger_at: datetime | None,
    now: datetime,
    retrain_running: bool = False,
    higher_is_better: bool = True,
) -> DriftDecision:
    """Whether this monitoring run should emit the drift event that triggers a retrain.

    `performance_drop` is the primary metric's loss against its reference, positive = worse,
    already signed by the caller (None: no matured labels); `higher_is_better` only words the
    reason. A current window with fewer than `min_rows` rows is not judged for data or
    prediction drift. Cooldown and an already running retrain block the retrain but still
    report the drift.
    """
    reasons: list[str] = []
    notes: list[str] = []
    window_ok = True
    if summary is None:
        notes.append("data drift not evaluated: no summary")
    elif summary.n_current < thresholds.min_rows:
        window_ok = False
        notes.append(
            f"data and prediction drift not evaluated: current window has {summary.n_current} rows "
            f"(< min_rows {thresholds.min_rows})"
        )
    else:
        reasons += _data_drift_reasons(summary, thresholds)

    if prediction_psi is not None and window_ok and prediction_psi >= thresholds.prediction_psi:
        reasons.append(f"prediction drift: PSI {prediction_psi:.3f} >= {thresholds.prediction_psi:.3f}")
    if performance_drop is None:
        notes.append("performance not evaluated: no matured labels")
    elif performance_drop > thresholds.performance_drop:
        direction = "fell" if higher_is_better else "rose"
        reasons.append(
            f"performance drift: primary metric {direction} by {performance_drop:.4f} "
            f"(> {thresholds.performance_drop:.4f})"
        )

    drift_detected = bool(reasons)
    blockers = _blockers(thresholds, last_trigger_at, now, retrain_running) if drift_detected else []
    return DriftDecision(
        retrain=drift_detected and not blockers,
        drift_detected=drift_detected,
        reasons=reasons,
        blocked_by="; ".join(blockers) or None,
        notes=notes,
    )


def _check_features(numeric: Sequence[str], categorical: Sequence[str]) -> list[str]:
    features = [*numeric, *categorical]
    if not features:
        raise DriftInputError("no feature columns given: pass numeric and/or categorical")
    repeated = sorted({c for c in features if features.count(c) > 1})
    if repeated:
        raise DriftInputError(f"columns listed more than once across numeric/categorical: {repeated}")
    return features


def _check_frame(frame: pd.DataFrame, which: str, features: Sequence[str]) -> None:
    if len(frame) == 0:
        raise DriftInputError(f"{which} window is empty (0 rows): there is nothing to compare")
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DriftInputError(f"feature column(s) {missing} missing from the {which} frame")


def _coerce_numeric(frame: pd.DataFrame, which: str, numeric: Sequence[str]) -> pd.DataFrame:
    # ADBC/Arrow hands PostgreSQL NUMERIC columns over as Python Decimal objects: numbers that
    # Evidently would reject for their object dtype. Text that is not a number is an error.
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


def _all_null_columns(
    ref: pd.DataFrame, cur: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, ColumnDrift]:
    # Evidently drops nulls per column and raises on a column left empty, which would abort the
    # whole report; a feature that stops arriving is drift, so it is judged here instead.
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


def _has_values(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values):
        return bool(np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan)).any())
    return bool(values.notna().any())


def _plain_dtypes(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    # Evidently runs np.corrcoef over the numeric columns' `.values`: nullable (Int64, Float64)
    # or Arrow-backed columns turn that into an object array and the report fails, so numbers
    # go in as float64 with NaN and categories as objects with None.
    plain = {column: frame[column].to_numpy(dtype="float64", na_value=np.nan) for column in numeric}
    for column in categorical:
        values = frame[column].astype(object)
        plain[column] = values.where(values.notna(), None).to_numpy()
    return pd.DataFrame(plain, index=frame.index)


def _preset_options(
    stattest: str | dict[str, str] | None, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, Any]:
    """Map `stattest` onto DataDriftPreset's method / num_method / cat_method / per_column_method
    (Evidently's precedence: column over type over all), checking each name up front."""
    if stattest is None:
        return {}
    if isinstance(stattest, str):
        for kind, names in ((NUMERIC, numeric), (CATEGORICAL, categorical)):
            if names:
                _check_stattest(stattest, kind, f"stattest {stattest!r}")
        return {"method": stattest}
    if not isinstance(stattest, Mapping):
        raise DriftInputError(f"stattest must be a method name or a dict, got {type(stattest).__name__}")
    kinds = {**{c: NUMERIC for c in numeric}, **{c: CATEGORICAL for c in categorical}}
    options: dict[str, Any] = {}
    per_column: dict[str, str] = {}
    for key, method in stattest.items():
        if key == NUMERIC:
            _check_stattest(method, NUMERIC, "stattest['numeric']")
            options["num_method"] = method
        elif key == CATEGORICAL:
            _check_stattest(method, CATEGORICAL, "stattest['categorical']")
            options["cat_method"] = method
        elif key in kinds:
            _check_stattest(method, kinds[key], f"stattest[{key!r}]")
            per_column[key] = method
        else:
            raise DriftInputError(f"stattest key {key!r} is neither 'numeric', 'categorical' nor a feature column")
    if per_column:
        options["per_column_method"] = per_column
    return options


def _check_stattest(method: str, kind: str, where: str) -> None:
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == NUMERIC else ColumnType.Categorical
    try:
        get_registered_stattest(method, column_type)
    except Exception as error:  # Evidently raises its own error types for unknown/unfit names
        raise DriftInputError(f"{where}: {error}") from error


def _run_report(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    options: Mapping[str, Any],
    drift_share: float,
) -> Any:
    # Imported here: `import evidently` costs ~5 s, and `decide`/`prediction_drift` need none of it.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    # Declared types, so integer counts are not guessed categorical and codes not numeric.
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = [*numeric, *categorical]
    report = Report(
        [DataDriftPreset(columns=columns, drift_share=drift_share, **options)],
        include_tests=True,
    )
    # Chi-square divides by a zero expected count for a category unseen in the reference; the
    # p-value is still 0 (drift), so numpy's warning is only noise in the task log.
    with np.errstate(divide="ignore", invalid="ignore"):
        return report.run(
            reference_data=Dataset.from_pandas(ref[columns], data_definition=definition),
            current_data=Dataset.from_pandas(cur[columns], data_definition=definition),
        )


def _value_drift_entries(snapshot_dict: Mapping[str, Any]) -> dict[str, tuple[str, str, float, float]]:
    entries: dict[str, tuple[str, str, float, float]] = {}
    for metric in snapshot_dict.get("metrics", []):
        config = metric.get("config") or {}
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column = config.get("column")
        method = config.get("method")
        threshold = config.get("threshold")
        if column is None or method is None or threshold is None:
            raise DriftInputError(f"ValueDrift metric without column/method/threshold: {metric.get('metric_name')}")
        entries[str(column)] = (str(metric.get("id")), str(method), _as_float(metric.get("value")), float(threshold))
    return entries


def _test_verdicts(snapshot_dict: Mapping[str, Any]) -> dict[str, bool]:
    """Drifted flags from ValueDrift test results, keyed by metric id and by column."""
    verdicts: dict[str, bool] = {}
    for test in snapshot_dict.get("tests", []) or []:
        metric_config = test.get("metric_config") or {}
        params = metric_config.get("params") or {}
        if not str(params.get("type", "")).endswith(":ValueDrift"):
            continue
        if test.get("status") not in ("FAIL", "SUCCESS"):
            continue
        drifted = test["status"] == "FAIL"
        if metric_config.get("metric_id") is not None:
            verdicts[str(metric_config["metric_id"])] = drifted
        if params.get("column") is not None:
            verdicts[str(params["column"])] = drifted
    return verdicts


def _as_float(value: Any) -> float:
    if isinstance(value, Mapping):
        value = value.get("value")
    return float("nan") if value is None else float(value)


def _crossed(method: str, score: float, threshold: float) -> bool:
    if method in _IS_P_VALUE:
        return score < threshold if _IS_P_VALUE[method] else score >= threshold
    raise DriftInputError(
        f"cannot tell whether method {method!r} drifted without Evidently's test results; "
        "run the report with include_tests=True"
    )


def _severity(method: str, score: float, threshold: float) -> float:
    if method == ALL_NULL:
        return math.inf
    if math.isnan(score):
        return 0.0
    if _IS_P_VALUE.get(method):
        # On a log scale, so p = 1e-10 ranks above p = 1e-3 instead of both rounding to zero.
        return -math.log10(max(score, 1e-300)) / -math.log10(min(max(threshold, 1e-300), 0.999))
    return score / threshold if threshold > 0 else score


def _data_drift_reasons(summary: DriftSummary, thresholds: MonitorThresholds) -> list[str]:
    unknown = sorted(set(thresholds.critical_features) - set(summary.columns))
    if unknown:
        raise DriftInputError(f"critical features {unknown} are not among the monitored columns")
    reasons = []
    n_drifted, n_total = len(summary.drifted_columns), len(summary.columns)
    if summary.drift_share >= thresholds.drift_share:
        reasons.append(
            f"dataset drift: {n_drifted}/{n_total} features drifted "
            f"({summary.drift_share:.2f} >= {thresholds.drift_share:.2f}): " + ", ".join(summary.drifted_columns)
        )
    critical = [c for c in summary.drifted_columns if c in thresholds.critical_features]
    if critical:
        reasons.append("critical feature drift: " + ", ".join(_describe(summary.columns[c]) for c in critical))
    return reasons


def _describe(column: ColumnDrift) -> str:
    if column.stattest == ALL_NULL:
        return f"{column.column} (no values in the current window)"
    sign = "<" if _IS_P_VALUE.get(column.stattest) else ">="
    return f"{column.column} ({column.stattest} {column.score:.3g} {sign} {column.threshold:.3g})"


def _blockers(
    thresholds: MonitorThresholds, last_trigger_at: datetime | None, now: datetime, retrain_running: bool
) -> list[str]:
    blockers = []
    if retrain_running:
        blockers.append("retrain already running")
    if last_trigger_at is not None:
        if (last_trigger_at.tzinfo is None) != (now.tzinfo is None):
            raise ValueError("last_trigger_at and now must both be timezone-aware (or both naive)")
        since = now - last_trigger_at
        if since < timedelta(0):
            blockers.append(
                f"cooldown: last drift-triggered retrain at {last_trigger_at.isoformat()} is after "
                f"this run's logical time {now.isoformat()}"
            )
        elif since < timedelta(hours=thresholds.cooldown_hours):
            blockers.append(
                f"cooldown: last drift-triggered retrain at {last_trigger_at.isoformat()} "
                f"(< {thresholds.cooldown_hours:g}h before {now.isoformat()})"
            )
    return blockers


def _finite(scores: np.ndarray, which: str) -> np.ndarray:
    values = np.asarray(scores, dtype="float64").ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise DriftInputError(f"no finite {which} scores to compare")
    return values


def _bin_shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    # side="left" makes bins right-closed, so a value equal to a decile stays in the lower bin
    # in both windows.
    counts = np.bincount(np.searchsorted(inner_edges, values, side="left"), minlength=inner_edges.size + 1)
    return np.maximum(counts / values.size, _PSI_EPSILON)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return _finite_or_none(float(value))
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _write_html(path: Path, snapshot: Any, summary: DriftSummary) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if snapshot is None:
        tmp.write_text(
            "<html><body><h1>Data drift</h1><p>No feature column has values in the current window: "
            + ", ".join(summary.drifted_columns)
            + "</p></body></html>",
            encoding="utf-8",
        )
    else:
        snapshot.save_html(str(tmp))
    os.replace(tmp, path)


def _write_atomic(path: Path, text: str) -> None:
    # Write-then-rename, so a retried task never leaves a half-written file behind.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
