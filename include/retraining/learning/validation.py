"""Data validation with Great Expectations 1.x: a suite derived from the model file, tightened
by what the champion's training data looked like, run on a window before anything trains on it.

Learned expectations cover what a broken load changes (types, null shares, category names),
never numeric ranges: a shifted distribution is drift, which retraining should follow, not a
reason to refuse the data.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from os import PathLike
from typing import Any

import pandas as pd

from include.retraining.artifacts import artifact_path, write_text
from include.retraining.config import ModelConfig

# Great Expectations logs ~200 "Skipping registering function" lines at INFO when imported,
# into every validate task's log; none of them is about the data.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)

# Every pandas numeric dtype name, numpy's and the nullable extension types.
NUMERIC_TYPES = [f"{kind}{bits}" for kind in ("int", "uint", "Int", "UInt") for bits in (8, 16, 32, 64)] + [
    "float16", "float32", "float64", "Float32", "Float64",
]  # fmt: skip


# What to do about each failed expectation, said once here so every alert carries it.
FIXES = {
    "expect_table_row_count_to_be_between": "too few rows: check that the upstream load ran, or widen training.window_days",
    "expect_column_to_exist": "add the column to the source, or fix `features`/`target` in the model file",
    "expect_column_values_to_not_be_null": "fix the upstream load, or raise validation.max_null_share if nulls are expected",
    "expect_column_values_to_be_in_set": "fix the upstream load, or list the new values in validation.allowed_categories "
    "(a classification target must be 0/1: for more classes set `task: multiclass`)",
    "expect_column_values_to_be_in_type_list": "the column must be numeric: cast it in the warehouse or in `source.query`",
    "expect_column_values_to_be_between": "fix the upstream load, or widen validation.ranges in the model file",
    "expect_column_values_to_be_finite": "inf/-inf are broken data (e.g. a division by zero): fix the load or store NULL",
    "expect_compound_columns_to_be_unique": "the same id at the same time is loaded more than once: deduplicate the load",
    "expect_column_values_to_have_plausible_magnitude": "a number beyond +-2^53 (e.g. a 1e308 sentinel) is no "
    "measurement and overflows the scaler: fix the load or store NULL; if the column really holds such numbers, "
    "give it bounds in validation.ranges",
    "expect_column_unique_value_count_to_be_between": "this many distinct values is an id, not a category: move the "
    "column to `features.numeric` if it is a number, drop it from `features`, or raise validation.max_categories "
    "(a multiclass target: check that `target` names the class column; its classes count against the same limit)",
}

# Beyond 2^53 a float64 no longer holds every integer; every numeric feature becomes a float64 in
# the model. Without a configured range such a value is a sentinel or a broken load, and squaring
# values near 1e308 (the scaler's variance) overflows: the column is then scaled to garbage silently.
MAX_MAGNITUDE = float(2**53)


class DataValidationError(ValueError):
    """The window failed validation; nothing may train on it."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


@cache
def _finite_expectation() -> type:
    import great_expectations.expectations as gxe

    class ExpectColumnValuesToBeFinite(gxe.ExpectColumnValuesToBeBetween):
        """Every non-null value is a finite number: a range check lets inf through when unbounded."""

        min_value: float = -sys.float_info.max
        max_value: float = sys.float_info.max

    return ExpectColumnValuesToBeFinite


@cache
def _magnitude_expectation() -> type:
    import great_expectations.expectations as gxe

    class ExpectColumnValuesToHavePlausibleMagnitude(gxe.ExpectColumnValuesToBeBetween):
        """Every non-null value within +-2^53 on each side that validation.ranges leaves open."""

    return ExpectColumnValuesToHavePlausibleMagnitude


def magnitude_bounds(config: ModelConfig, column: str) -> tuple[float | None, float | None]:
    """The magnitude check's bounds of a numeric column: +-MAX_MAGNITUDE on each side without a
    bound in validation.ranges (a configured bound is the user's own, and is checked as such)."""
    low, high = config.validation.ranges.get(column, (None, None))
    return (-MAX_MAGNITUDE if low is None else None, MAX_MAGNITUDE if high is None else None)


@dataclass(frozen=True)
class ReferenceProfile:
    """What the champion's training data looked like, for expectations learned from it."""

    null_share: dict[str, float]
    categories: dict[str, list[str]]


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    detail: str


@dataclass(frozen=True)
class ValidationReport:
    success: bool
    evaluated: int
    failed: list[FailedExpectation] = field(default_factory=list)
    json_path: str | None = None
    html_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.success:
            return f"all {self.evaluated} expectations met"
        lines = [f"{len(self.failed)} of {self.evaluated} expectations failed:"]
        lines += [
            f"- {f.expectation} on {f.column or 'table'}: {f.detail}. Fix: {FIXES.get(f.expectation, 'see the full result')}"
            for f in self.failed
        ]
        return "\n".join(lines)


def one_cause_each(failed: Iterable[FailedExpectation]) -> list[FailedExpectation]:
    """The failures, without a column's magnitude failure when it also failed the finite check: an
    inf is beyond any magnitude, and the finite check's fix is the one that applies."""
    failed = list(failed)
    infinite = {f.column for f in failed if f.expectation == "expect_column_values_to_be_finite"}
    return [
        f
        for f in failed
        if not (f.expectation == "expect_column_values_to_have_plausible_magnitude" and f.column in infinite)
    ]


def learned_profile(stored: Any) -> ReferenceProfile:
    """What validation learns from a champion's stored `DataProfile`: null shares, and category
    names of the columns whose categories were kept whole (a truncated list would flag the rest
    as new)."""
    return ReferenceProfile(
        null_share=dict(stored.null_share),
        categories={
            name: sorted(column.categories)
            for name, column in stored.columns.items()
            if column.categories is not None and not column.categories_truncated
        },
    )


def allowed_null_share(config: ModelConfig, profile: ReferenceProfile | None, column: str) -> float:
    rules = config.validation
    if profile and rules.learn_from_champion and column in profile.null_share:
        return min(rules.max_null_share, profile.null_share[column] + rules.null_share_margin)
    return rules.max_null_share


def known_categories(config: ModelConfig, profile: ReferenceProfile | None, column: str) -> set[str]:
    known = set(config.validation.allowed_categories.get(column, []))
    if profile and config.validation.learn_from_champion:
        known |= set(profile.categories.get(column, []))
    return known


def _expectations(config: ModelConfig, profile: ReferenceProfile | None) -> list[Any]:
    import great_expectations.expectations as gxe

    rules, source = config.validation, config.source
    suite: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=config.training.min_rows)]
    identity = [source.id_column] if source.id_column else []
    for column in [*identity, source.timestamp_column, config.target, *config.features.columns]:
        suite.append(gxe.ExpectColumnToExist(column=column))
    if source.id_column:
        # One row per entity and time: a load that ran twice would train on every row twice.
        suite.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=[source.id_column, source.timestamp_column]))
    suite.append(gxe.ExpectColumnValuesToNotBeNull(column=config.target))
    numbers = list(config.features.numeric)
    if config.task == "classification":
        suite.append(gxe.ExpectColumnValuesToBeInSet(column=config.target, value_set=[0, 1]))
    elif config.task == "regression":
        numbers.append(config.target)
    elif rules.max_categories is not None:  # multiclass: its classes are learned from the window, as
        # many as there are; an id named as the target would train a classifier of thousands.
        suite.append(gxe.ExpectColumnUniqueValueCountToBeBetween(column=config.target, max_value=rules.max_categories))
    finite, magnitude = _finite_expectation(), _magnitude_expectation()
    for column in numbers:
        suite.append(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES))
        suite.append(finite(column=column))
        low, high = magnitude_bounds(config, column)
        if low is not None or high is not None:
            suite.append(magnitude(column=column, min_value=low, max_value=high))
    for column, (low, high) in rules.ranges.items():
        suite.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    for column in config.features.columns:
        allowed_nulls = allowed_null_share(config, profile, column)
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=round(1 - allowed_nulls, 6)))
    for column in config.features.categorical:
        if rules.max_categories is not None:
            suite.append(gxe.ExpectColumnUniqueValueCountToBeBetween(column=column, max_value=rules.max_categories))
        known = known_categories(config, profile, column)
        if known:
            suite.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=column, value_set=sorted(known), mostly=round(1 - rules.new_category_share, 6)
                )
            )
    return suite


def _raised(info: dict[str, Any] | None, show_values: bool) -> str | None:
    """Why an expectation could not be computed; GX 1.x nests this per metric."""
    for entry in [info or {}, *(v for v in (info or {}).values() if isinstance(v, dict))]:
        if entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "an error").strip().splitlines()[0]
            if not show_values:  # a pandas or driver message can quote a row value
                message = re.sub(r"'[^']*'", "'...'", message)
            return f"could not be checked: {message}"
    return None


def _detail(result: Any, show_values: bool) -> str:
    raised = _raised(result.exception_info, show_values)
    if raised:
        return raised
    observed = result.result or {}
    kwargs = result.expectation_config.kwargs
    parts = []
    if "observed_value" in observed:
        parts.append(f"observed {observed['observed_value']!r}")
    if "unexpected_percent" in observed and observed["unexpected_percent"] is not None:
        parts.append(f"{observed['unexpected_percent']:.1f}% unexpected")
    if show_values and observed.get("partial_unexpected_list"):
        parts.append(f"e.g. {observed['partial_unexpected_list'][:5]!r}")
    for key in ("value_set", "min_value", "max_value", "mostly"):
        if kwargs.get(key) is not None:
            parts.append(f"expected {key}={kwargs[key]!r}")
    return "; ".join(parts) or "failed"


def _render_html(config: ModelConfig, report: ValidationReport, results: list[Any]) -> str:
    rows = "".join(
        f"<tr class={'ok' if r.success else 'fail'}><td>{'pass' if r.success else 'FAIL'}</td>"
        f"<td>{html.escape(r.expectation_config.type)}</td>"
        f"<td>{html.escape(str(r.expectation_config.kwargs.get('column', '')))}</td>"
        f"<td>{html.escape('' if r.success else _detail(r, show_values=True))}</td></tr>"
        for r in results
    )
    verdict = "passed" if report.success else "FAILED"
    return (
        f"<html><head><meta charset='utf-8'><title>{config.name} validation</title><style>"
        "body{font-family:sans-serif}td{padding:2px 8px}.fail{background:#fdd}.ok{background:#efe}"
        f"</style></head><body><h1>{config.name}: validation {verdict}</h1>"
        f"<p>{html.escape(report.summary())}</p><table><tr><th></th><th>expectation</th>"
        f"<th>column</th><th>detail</th></tr>{rows}</table></body></html>"
    )


def _column(kwargs: dict[str, Any]) -> str | None:
    return kwargs.get("column") or (", ".join(kwargs["column_list"]) if kwargs.get("column_list") else None)


def validate_frame(
    frame: pd.DataFrame, config: ModelConfig, profile: ReferenceProfile | None, out_dir: str | PathLike[str]
) -> ValidationReport:
    """Run the suite on the frame; write the GX result as JSON and a readable HTML page."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch_definition = (
        context.data_sources.add_pandas("warehouse")
        .add_dataframe_asset(config.name)
        .add_batch_definition_whole_dataframe("window")
    )
    suite = gx.ExpectationSuite(name=f"{config.name}_window", expectations=_expectations(config, profile))
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    failed = one_cause_each(
        FailedExpectation(
            expectation=r.expectation_config.type,
            column=_column(r.expectation_config.kwargs),
            detail=_detail(r, show_values=config.validation.include_values_in_alerts),
        )
        for r in result.results
        if not r.success
    )
    # Through the artifact store, each file whole, so the operator console never serves half a result.
    out_dir = artifact_path(out_dir)
    json_path, html_path = out_dir / "gx_result.json", out_dir / "gx_result.html"
    report = ValidationReport(
        success=bool(result.success),
        evaluated=len(result.results),
        failed=failed,
        json_path=str(json_path),
        html_path=str(html_path),
    )
    write_text(json_path, json.dumps(result.to_json_dict(), indent=2, default=str))
    write_text(html_path, _render_html(config, report, list(result.results)))
    return report


def validate_or_raise(
    frame: pd.DataFrame,
    config: ModelConfig,
    profile: ReferenceProfile | None,
    out_dir: str | PathLike[str],
    window_check: Callable[[ValidationReport], ValidationReport] | None = None,
) -> ValidationReport:
    """The suite on the frame, plus `window_check` (checks of the whole window when the frame is
    a sample of it); raises DataValidationError when anything failed."""
    report = validate_frame(frame, config, profile, out_dir)
    if window_check is not None:
        report = window_check(report)
    if not report.success:
        raise DataValidationError(
            f"model {config.name!r}: the window failed validation, nothing was trained. "
            f"{report.summary()}\nFull result: {report.html_path}",
            report,
        )
    return report
