"""Validation of a whole window from the warehouse's aggregates, for a model that trains on a
sample (`training.sample_rows`): the rules a broken load breaks (row count, null shares, new
categories, too many categories, ranges, implausible magnitudes) are judged on every row, with the thresholds the Great Expectations suite
uses on the sample; the rest (types, finiteness, the target, duplicates) on the sample.
"""

from __future__ import annotations

from include.retraining.config import ModelConfig
from include.retraining.learning.validation import (
    FailedExpectation,
    ReferenceProfile,
    ValidationReport,
    allowed_null_share,
    known_categories,
    magnitude_bounds,
    one_cause_each,
)
from include.retraining.warehouse import WindowAggregates


def window_failures(
    aggregates: WindowAggregates, config: ModelConfig, profile: ReferenceProfile | None
) -> list[FailedExpectation]:
    rows, failed = aggregates.rows, []
    if rows < config.training.min_rows:
        failed.append(
            FailedExpectation(
                "expect_table_row_count_to_be_between",
                None,
                f"whole window: observed {rows}; expected min_value={config.training.min_rows}",
            )
        )
    for column, nulls in aggregates.nulls.items():
        share, allowed = (nulls / rows if rows else 0.0), allowed_null_share(config, profile, column)
        if share > allowed:
            detail = f"whole window: {share:.1%} null; expected at most {allowed:.1%}"
            failed.append(FailedExpectation("expect_column_values_to_not_be_null", column, detail))
    limit = config.validation.max_categories
    for column, counts in aggregates.categories.items():
        if limit is not None and len(counts) > limit:
            detail = f"whole window: observed {len(counts)}; expected max_value={limit}"
            failed.append(FailedExpectation("expect_column_unique_value_count_to_be_between", column, detail))
        known = known_categories(config, profile, column)
        present = sum(counts.values())
        unexpected = sum(n for value, n in counts.items() if value not in known)
        if known and present and unexpected / present > config.validation.new_category_share:
            detail = f"whole window: {unexpected / present:.1%} unexpected (not in {sorted(known)})"
            if config.validation.include_values_in_alerts:
                detail += f"; e.g. {sorted(v for v in counts if v not in known)[:5]!r}"
            failed.append(FailedExpectation("expect_column_values_to_be_in_set", column, detail))
    for column, (low, high) in config.validation.ranges.items():
        lowest, highest = aggregates.minimum.get(column), aggregates.maximum.get(column)
        if _outside(lowest, highest, low, high):
            detail = f"whole window: values from {lowest} to {highest}; expected between {low} and {high}"
            failed.append(FailedExpectation("expect_column_values_to_be_between", column, detail))
    failed += _magnitude_failures(aggregates, config)
    return failed


def _magnitude_failures(aggregates: WindowAggregates, config: ModelConfig) -> list[FailedExpectation]:
    failed = []
    for column in aggregates.minimum:
        low, high = magnitude_bounds(config, column)
        lowest, highest = aggregates.minimum.get(column), aggregates.maximum.get(column)
        if _outside(lowest, highest, low, high):
            detail = f"whole window: values from {lowest} to {highest}; expected between {low} and {high}"
            failed.append(FailedExpectation("expect_column_values_to_have_plausible_magnitude", column, detail))
    return failed


def _outside(lowest: float | None, highest: float | None, low: float | None, high: float | None) -> bool:
    """Whether the window's extremes pass a bound; None (no bound, or no value) passes."""
    return (low is not None and lowest is not None and lowest < low) or (
        high is not None and highest is not None and highest > high
    )


def with_window_checks(
    report: ValidationReport, aggregates: WindowAggregates, config: ModelConfig, profile: ReferenceProfile | None
) -> ValidationReport:
    """The sample's report with the checks of every row of the window (its warehouse aggregates)."""
    return with_window_failures(report, window_failures(aggregates, config, profile), check_count(aggregates, config))


def with_window_failures(report: ValidationReport, failed: list[FailedExpectation], checks: int) -> ValidationReport:
    """The sample's report with the whole-window checks added."""
    return ValidationReport(
        success=report.success and not failed,
        evaluated=report.evaluated + checks,
        failed=one_cause_each([*report.failed, *failed]),
        json_path=report.json_path,
        html_path=report.html_path,
    )


def check_count(aggregates: WindowAggregates, config: ModelConfig) -> int:
    """How many whole-window checks `window_failures` makes."""
    categories = len(aggregates.categories) * (2 if config.validation.max_categories is not None else 1)
    magnitudes = sum(1 for column in aggregates.minimum if magnitude_bounds(config, column) != (None, None))
    return 1 + len(aggregates.nulls) + categories + len(config.validation.ranges) + magnitudes
