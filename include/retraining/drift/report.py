"""The Evidently adapter: per-column data drift of the feature columns between two windows.

The only module that imports Evidently. `compute_data_drift` samples and prepares the frames,
maps the model file's `stattest` onto `DataDriftPreset`'s options, runs the report and parses its
snapshot into a `DriftSummary` (`summary.py`); it can also write the HTML report and a JSON copy,
each with the trigger policy's own verdict per column on top (`verdict.py`): the policy decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.artifacts import ArtifactPath, artifact_path, write_text, write_with
from include.retraining.common import sample_rows
from include.retraining.config import TriggerConfig
from include.retraining.drift.evidence import DriftEvidence
from include.retraining.drift.summary import (
    CATEGORICAL,
    METHODS,
    NUMERIC,
    ColumnDrift,
    DriftInputError,
    DriftSummary,
    all_null_columns,
    check_features,
    check_frame,
    coerce_numeric,
    crossed,
    json_safe,
)
from include.retraining.drift.verdict import column_verdicts, verdict_html, verdict_json

# Rows sampled per window: past a few thousand rows a distance estimate only gets more precise
# while the cost grows linearly (`make bench` times the sampled report against the full one).
DEFAULT_MAX_ROWS = 20_000
# At or below 1000 reference rows Evidently switches to p-value tests, so a cap that low would
# change the test (not just its precision) compared with the full-data run.
_MIN_MAX_ROWS = 1_001


def compute_data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    stattest: str | dict[str, str] | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    seed: int = 0,
    html_path: str | PathLike[str] | None = None,
    json_path: str | PathLike[str] | None = None,
    drift_share: float = 0.5,
    window: Mapping[str, Any] | None = None,
    evidence: DriftEvidence | None = None,
    trigger: TriggerConfig | None = None,
) -> DriftSummary:
    """Per-column drift of the feature columns between two windows.

    Frames longer than `max_rows` are replaced by a uniform random sample of `max_rows` rows,
    fixed by `seed` (reference: `sample_rows(reference, max_rows, seed)`, so a caller may
    pre-sample it once; current: seed + 1). `stattest` is one Evidently method for every column,
    or a dict keyed by column name and/or "numeric"/"categorical"; a column key wins over its
    type. A column with no values in the current window counts as drifted (stattest "all_null",
    score = its null share); one with no values in the reference raises `DriftInputError`.
    `drift_share` only sets the line in the HTML report; `window` (row counts) goes into the JSON.
    With `evidence` (the trigger policy's, judged with `trigger`), both files open with the
    policy's verdict per column beside Evidently's, and say where they differ.
    """
    features = _checked_features(reference, current, numeric, categorical, max_rows)
    options = _preset_options(stattest, numeric, categorical)
    ref = sample_rows(reference, max_rows, seed).loc[:, features]
    cur = sample_rows(current, max_rows, seed + 1).loc[:, features]
    all_null = all_null_columns(ref, cur, numeric, categorical)
    snapshot = _run_on_values(ref, cur, numeric, categorical, all_null, options, drift_share)
    snapshot_dict = snapshot.dict() if snapshot is not None else {"metrics": [], "tests": []}
    summary = summarize_snapshot(
        snapshot_dict, numeric, categorical, n_reference=len(ref), n_current=len(cur), precomputed=all_null
    )
    verdicts = column_verdicts(summary, evidence, trigger or TriggerConfig()) if evidence is not None else None
    if html_path is not None:
        _write_html(artifact_path(html_path), snapshot, summary, verdict_html(verdicts, evidence) if verdicts else "")
    if json_path is not None:
        _write_json(
            artifact_path(json_path),
            summary,
            window,
            snapshot_dict,
            verdict_json(verdicts, evidence) if verdicts else None,
        )
    return summary


def _write_json(
    path: ArtifactPath,
    summary: DriftSummary,
    window: Mapping[str, Any] | None,
    snapshot_dict: Mapping[str, Any],
    policy: dict[str, Any] | None,
) -> None:
    payload = {"summary": summary.to_dict(), "window": dict(window or {}), "evidently": snapshot_dict}
    if policy is not None:
        payload["policy"] = policy
    write_text(path, json.dumps(json_safe(payload), indent=2, allow_nan=False))


def _checked_features(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str], max_rows: int | None
) -> list[str]:
    features = check_features(numeric, categorical)
    check_frame(reference, "reference", features)
    check_frame(current, "current", features)
    if max_rows is not None and max_rows < _MIN_MAX_ROWS:
        raise ValueError(
            f"max_rows={max_rows} is too small: Evidently switches to p-value tests at <= 1000 "
            f"rows; use at least {_MIN_MAX_ROWS} or None for no sampling"
        )
    return features


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
            method = METHODS.get(method, (method, None))[0]
            drifted = verdicts.get(metric_id, verdicts.get(name))
            if drifted is None:
                drifted = crossed(method, score, threshold)
            columns[name] = ColumnDrift(name, kind, method, score, threshold, drifted)
    if not columns:
        raise DriftInputError("no feature columns to summarise: pass numeric and/or categorical")
    return DriftSummary.of(columns, n_reference=n_reference, n_current=n_current)


def _run_on_values(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    all_null: Mapping[str, ColumnDrift],
    options: Mapping[str, Any],
    drift_share: float,
) -> Any:
    """The Evidently snapshot over the columns that have values in both windows (None: none has)."""
    evaluated_numeric = [c for c in numeric if c not in all_null]
    evaluated_categorical = [c for c in categorical if c not in all_null]
    if not evaluated_numeric and not evaluated_categorical:
        return None
    ref = coerce_numeric(ref, "reference", evaluated_numeric)
    cur = coerce_numeric(cur, "current", evaluated_numeric)
    return _run_report(
        _plain_dtypes(ref, evaluated_numeric, evaluated_categorical),
        _plain_dtypes(cur, evaluated_numeric, evaluated_categorical),
        evaluated_numeric,
        evaluated_categorical,
        options,
        drift_share,
    )


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
        if key in (NUMERIC, CATEGORICAL):
            _check_stattest(method, key, f"stattest[{key!r}]")
            options["num_method" if key == NUMERIC else "cat_method"] = method
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
    # Imported here: `import evidently` costs ~5 s, and the decision and PSI need none of it.
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


def _write_html(path: ArtifactPath, snapshot: Any, summary: DriftSummary, verdict: str) -> None:
    """Evidently's report with `verdict` (the policy's section, "" for none) at the top of its body."""
    if snapshot is None:
        text = (
            f"<html><body>{verdict}<h1>Data drift</h1><p>No feature column has values in the current window: "
            + ", ".join(summary.drifted_columns)
            + "</p></body></html>"
        )
        write_text(path, text)
        return

    def save(tmp: Path) -> None:
        # Evidently writes local files only: a staged file, published to the store whole.
        snapshot.save_html(str(tmp))
        if verdict:
            html = tmp.read_text(encoding="utf-8")
            body = html.find("<body>")
            html = (
                html[: body + len("<body>")] + verdict + html[body + len("<body>") :] if body >= 0 else verdict + html
            )
            tmp.write_text(html, encoding="utf-8")

    write_with(path, save)
