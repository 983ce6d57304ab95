"""Batch scoring, the pure part: which interval a run scores, what is wrong with a window's
input, and the scores of a frame. `score_frame` is what `score_<model>` runs on every row and
what the REST server must agree with, row for row.

No I/O here: the step (`steps.py`) reads the window, calls these, and writes the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from croniter import croniter

from include.retraining.common import Window, as_utc
from include.retraining.config import ModelConfig
from include.retraining.learning import model_features
from include.retraining.predictions import score_columns
from include.retraining.score.values import (
    CATEGORY,
    BadColumn,
    BadValues,
    Problem,
    find_bad_values,
    numbers_from_text,
)
from include.retraining.warehouse import id_text


class ScoringInputError(ValueError):
    """The window cannot be scored as the model file says (a missing feature, a null, an unseen
    category under `fail`); the run stops with an alert and writes nothing."""


class BadInputError(ScoringInputError):
    """Refused values, per column (`columns`: column, first row, what was expected; never the value)."""

    def __init__(self, message: str, columns: list[BadColumn]) -> None:
        super().__init__(message)
        self.columns = columns


@dataclass(frozen=True)
class InputReport:
    """What the window held that the model did not see in training: per feature column. `invalid`:
    values not of their column's type (score/values.py), scored as nulls under `scoring.nulls: impute`."""

    rows: int
    nulls: dict[str, int] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)
    unseen_examples: dict[str, list[str]] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    first_rows: dict[str, dict[str, int]] = field(default_factory=dict)


def scoring_interval(cron: str, moment: datetime) -> Window:
    """The interval of the cron's grid that ends at the latest fire at or before `moment`:
    (previous fire, that fire]. Every run, scheduled, asset-triggered or manual, scores a whole
    grid interval, so no two runs' intervals overlap and consecutive ones leave no gap."""
    floor = as_utc(moment).replace(microsecond=0)
    end = as_utc(croniter(cron, floor + timedelta(seconds=1)).get_prev(datetime))
    start = as_utc(croniter(cron, end).get_prev(datetime))
    return Window(start, end)


def score_frame(
    model: Any, frame: pd.DataFrame, config: ModelConfig, threads: int = 1, refuse_bad_values: bool = False
) -> np.ndarray | pd.DataFrame:
    """The scores of every row: positive-class probability (classification), class probabilities (a
    frame, multiclass) or the prediction (regression), on the model's own feature list; raises
    ScoringInputError per `scoring:`."""
    return score_with_report(model, frame, config, threads, refuse_bad_values)[0]


def score_with_report(
    model: Any, frame: pd.DataFrame, config: ModelConfig, threads: int = 1, refuse_bad_values: bool = False
) -> tuple[np.ndarray | pd.DataFrame, InputReport]:
    """`score_frame`, plus what the window held that training did not (nulls, unseen categories,
    values not of their column's type). A bad value is refused under `scoring.nulls: fail` or with
    `refuse_bad_values` (the REST server: a client gets a 400, never an imputed score), else it
    is scored as a null and counted."""
    from include.retraining.learning import predict_scores

    features = model_features(model, config.features.columns)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ScoringInputError(
            f"model {config.name!r}: the scoring window has no column(s) {missing}, which the model was "
            f"trained on; fix `scoring.table`/`scoring.query` (or `source`) in the model file, or the upstream load"
        )
    numeric, categorical = feature_kinds(model, config, features)
    # A request's values have JSON types; a window's text column of numbers is numbers (as before).
    inputs = frame[features] if refuse_bad_values else numbers_from_text(frame[features], numeric)
    bad = find_bad_values(inputs, numeric, categorical)
    if bad and (refuse_bad_values or config.scoring_or_defaults.nulls == "fail"):
        raise _bad_values_error(bad, config, refuse_bad_values)
    inputs = bad.blanked(inputs)
    report = inspect_input(model, inputs, config, bad)
    check_input(report, config)
    if not len(inputs):
        return np.empty(0, dtype="float64"), report
    return predict_scores(model, inputs, config.task, threads).astype("float64"), report


def feature_kinds(model: Any, config: ModelConfig, features: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) among `features`, as the fitted model's preprocessor split them (a
    model trained on an older model file keeps its own split), else as the model file says."""
    numeric, categorical = [], []
    for step in (getattr(model, "named_steps", None) or {}).values():
        for name, _, columns in getattr(step, "transformers_", []):
            if isinstance(columns, list):
                target = numeric if name == "numeric" else categorical if name == "categorical" else []
                target += [str(c) for c in columns]
    if not numeric and not categorical:
        numeric, categorical = list(config.features.numeric), list(config.features.categorical)
    return [c for c in numeric if c in features], [c for c in categorical if c in features]


def _bad_values_error(bad: BadValues, config: ModelConfig, request: bool) -> BadInputError:
    if request:
        return BadInputError("; ".join(b.message() for b in bad.columns), bad.columns)
    return BadInputError(
        f"model {config.name!r}: the scoring window has values that are not of their column's type, rows per "
        f"column {bad.counts()} ({', '.join(f'{b.column}: {b.problem.value}' for b in bad.columns)}) and "
        "`scoring.nulls: fail`; fix the upstream load or cast the column in `scoring.query`, or set "
        "`scoring.nulls: impute` to score them as nulls (counted in the task log)",
        bad.columns,
    )


def inspect_input(model: Any, inputs: pd.DataFrame, config: ModelConfig, bad: BadValues | None = None) -> InputReport:
    """Nulls per feature and, for every encoded categorical feature, the rows whose category the
    encoder never saw in training (scored in its infrequent bucket, or as missing under native).
    With `bad`, `inputs` has its bad values blanked: they are counted as invalid, not as nulls."""
    invalid = bad.counts() if bad else {}
    null_counts = inputs.isna()
    nulls = {str(c): int(n) - invalid.get(str(c), 0) for c, n in null_counts.sum().items()}
    firsts: dict[str, dict[str, int]] = {"nulls": {}, "unseen": {}}
    for column in (c for c, n in nulls.items() if n):
        real = null_counts[column].to_numpy()
        if bad and column in bad.masks:
            real = real & ~bad.masks[column]
        firsts["nulls"][column] = int(np.flatnonzero(real)[0])
    unseen: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for column, values in _unseen_values(model, inputs):
        rows = inputs[column].isin(values).to_numpy()
        unseen[column], firsts["unseen"][column] = int(rows.sum()), int(np.flatnonzero(rows)[0])
        examples[column] = sorted(str(v) for v in values)[:5]
    nulls = {c: n for c, n in nulls.items() if n}
    return InputReport(len(inputs), nulls, unseen, examples, invalid, firsts)


def check_input(report: InputReport, config: ModelConfig) -> None:
    """Raise ScoringInputError where `scoring.nulls` or `scoring.unseen_categories` says `fail`."""
    scoring, name = config.scoring_or_defaults, config.name
    if scoring.nulls == "fail" and report.nulls:
        raise BadInputError(
            f"model {name!r}: the scoring window has nulls in {report.nulls} (rows per column) and "
            "`scoring.nulls: fail`; fix the upstream load, or set `scoring.nulls: impute` to score them "
            "with the pipeline's imputation",
            _columns(report, "nulls", report.nulls, "a value (`scoring.nulls: fail`)", Problem.NULL),
        )
    if scoring.unseen_categories == "fail" and report.unseen:
        # Row values (customer data) stay out of alerts unless the model opts in.
        examples = f" (e.g. {report.unseen_examples})" if config.validation.include_values_in_alerts else ""
        raise BadInputError(
            f"model {name!r}: the scoring window has categories the model never saw in training, rows per "
            f"column {report.unseen}{examples} and `scoring.unseen_categories: fail`; "
            "fix the upstream load, retrain on data that has them, or set `scoring.unseen_categories: score`",
            _columns(report, "unseen", report.unseen, f"{CATEGORY} seen in training", Problem.UNSEEN),
        )


def _columns(
    report: InputReport, kind: str, counts: dict[str, int], expected: str, problem: Problem
) -> list[BadColumn]:
    first = report.first_rows.get(kind, {})
    return [BadColumn(column, expected, problem, rows, first.get(column, 0)) for column, rows in counts.items()]


def _unseen_values(model: Any, inputs: pd.DataFrame) -> Iterator[tuple[str, list[Any]]]:
    """(column, raw values the encoder never saw) for each categorical column of the model."""
    for columns, prefix, encoder in _encoders(model):
        present = [c for c in columns if c in inputs.columns]
        if present != list(columns):
            continue
        distinct = inputs[present].drop_duplicates()
        text = pd.DataFrame(np.asarray(prefix.transform(distinct) if prefix is not None else distinct, dtype=object))
        for i, column in enumerate(present):
            known = set(encoder.categories_[i].tolist())
            raw = distinct[column].to_numpy()
            new = dict.fromkeys(raw[j] for j in range(len(raw)) if pd.notna(raw[j]) and text.iat[j, i] not in known)
            if new:
                yield column, list(new)


def _encoders(model: Any) -> Iterator[tuple[list[str], Any, Any]]:
    """(columns, the steps before the encoder, the encoder) for each fitted category encoder
    inside the model's column transformer; nothing for a model built otherwise."""
    steps = getattr(model, "named_steps", None) or {}
    for step in steps.values():
        for _, transformer, columns in getattr(step, "transformers_", []):
            inner = getattr(transformer, "steps", None)
            if inner and hasattr(inner[-1][1], "categories_") and isinstance(columns, list):
                yield [str(c) for c in columns], (transformer[:-1] if len(inner) > 1 else None), inner[-1][1]


@dataclass(frozen=True)
class Stamp:
    """What every prediction row of one alias in one run carries besides its id, time and score."""

    model: str
    version: str
    alias: str
    interval: Window
    scored_at: datetime
    run_id: str


def prediction_rows(
    rows: pd.DataFrame, scores: np.ndarray | pd.DataFrame, id_column: str, time_column: str, stamp: Stamp
) -> pd.DataFrame:
    """The predictions table's rows (its contract's columns, and a multiclass model's class columns)
    for one alias's scores."""
    naive = [
        pd.Timestamp(as_utc(t)).tz_localize(None) for t in (stamp.interval.start, stamp.interval.end, stamp.scored_at)
    ]
    frame = pd.DataFrame(
        {
            "id": id_text(rows[id_column]).to_numpy(dtype=object),
            "event_time": pd.to_datetime(rows[time_column]).to_numpy(),
            **score_columns(scores),
        }
    )
    frame.insert(0, "alias", stamp.alias)
    frame.insert(0, "model_version", stamp.version)
    frame.insert(0, "model", stamp.model)
    frame["interval_start"], frame["interval_end"], frame["scored_at"] = naive
    frame["run_id"] = stamp.run_id
    return frame
