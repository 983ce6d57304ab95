"""Whole-window checks of a sampled model, from the warehouse's aggregates, with the suite's rules,
and the sample's validation report they are added to."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.config import load_model_config
from include.retraining.learning import (
    FailedExpectation,
    ReferenceProfile,
    ValidationReport,
    window_failures,
    with_window_checks,
)
from include.retraining.warehouse import WindowAggregates

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
CLEAN = WindowAggregates(
    rows=10_000,
    nulls={c: 0 for c in CONFIG.features.columns},
    minimum={"tenure_months": 0, "monthly_charges": 20, "support_tickets_90d": 0},
    maximum={"tenure_months": 72, "monthly_charges": 120, "support_tickets_90d": 9},
    categories={"contract": {"month_to_month": 6000, "one_year": 4000}, "region": {"north": 10_000}},
)
BROKEN = WindowAggregates(
    rows=150,
    nulls={**CLEAN.nulls, "monthly_charges": 90},
    minimum={**CLEAN.minimum, "tenure_months": -1},
    maximum=CLEAN.maximum,
    categories={**CLEAN.categories, "region": {"north": 90, "North": 10}},
)
SAMPLE = ValidationReport(success=True, evaluated=20, failed=[], json_path="gx.json", html_path="gx.html")


def _failed(aggregates: WindowAggregates, profile: ReferenceProfile | None = None) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in window_failures(aggregates, CONFIG, profile)}


def test_a_clean_window_passes() -> None:
    assert _failed(CLEAN) == set()


def test_each_rule_is_judged_on_every_row() -> None:
    assert _failed(BROKEN) == {
        ("expect_table_row_count_to_be_between", None),
        ("expect_column_values_to_not_be_null", "monthly_charges"),
        ("expect_column_values_to_be_between", "tenure_months"),
        ("expect_column_values_to_be_in_set", "region"),
    }


def test_too_many_categories_and_a_huge_value_are_judged_on_every_row() -> None:
    window = WindowAggregates(
        rows=CLEAN.rows,
        nulls=CLEAN.nulls,
        minimum=CLEAN.minimum,
        maximum={**CLEAN.maximum, "support_tickets_90d": 1e308},  # [0, null]: no upper bound
        categories={**CLEAN.categories, "payment_method": {f"account-{i}": 1 for i in range(1001)}},
    )

    failed = window_failures(window, CONFIG, None)

    assert {(f.expectation, f.column) for f in failed} == {
        ("expect_column_unique_value_count_to_be_between", "payment_method"),
        ("expect_column_values_to_have_plausible_magnitude", "support_tickets_90d"),
    }
    assert "whole window: observed 1001; expected max_value=1000" in {f.detail for f in failed}


def test_learned_null_shares_and_categories_apply_as_in_the_suite() -> None:
    learned = ReferenceProfile(null_share={"tenure_months": 0.0}, categories={"payment_method": ["card"]})
    window = WindowAggregates(
        rows=1000,
        nulls={**CLEAN.nulls, "tenure_months": 150},  # 15% > 0% learned + 10% margin
        categories={"payment_method": {"card": 900, "cash": 100}},
    )

    assert _failed(window, learned) == {
        ("expect_column_values_to_not_be_null", "tenure_months"),
        ("expect_column_values_to_be_in_set", "payment_method"),
    }


def test_a_clean_window_adds_its_checks_to_the_samples_report() -> None:
    # Per category column: new categories and too many; one magnitude check per open range end
    # (churn: support_tickets_90d [0, null]).
    checks = 1 + len(CLEAN.nulls) + 2 * len(CLEAN.categories) + len(CONFIG.validation.ranges) + 1

    report = with_window_checks(SAMPLE, CLEAN, CONFIG, None)

    assert report.success and report.failed == [] and report.evaluated == SAMPLE.evaluated + checks
    assert (report.json_path, report.html_path) == (SAMPLE.json_path, SAMPLE.html_path)


def test_a_broken_window_fails_a_passing_sample_and_keeps_the_samples_failures() -> None:
    on_sample = FailedExpectation("expect_column_values_to_be_finite", "monthly_charges", "1 inf")
    failing_sample = ValidationReport(False, 20, [on_sample], "gx.json", "gx.html")

    passed_sample = with_window_checks(SAMPLE, BROKEN, CONFIG, None)
    both = with_window_checks(failing_sample, BROKEN, CONFIG, None)

    assert not passed_sample.success and len(passed_sample.failed) == 4
    assert all(f.detail.startswith("whole window: ") for f in passed_sample.failed)
    assert not both.success and both.failed[0] == on_sample and len(both.failed) == 5
