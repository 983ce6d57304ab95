"""Validation of a window with Great Expectations: the suite from the model file, tightened by
what the champion's training data looked like (its stored profile), results written atomically."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import World, generate_snapshots
from include.retraining.artifacts import store as artifact_store
from include.retraining.config import load_model_config
from include.retraining.learning import (
    DataValidationError,
    ReferenceProfile,
    learned_profile,
    validate_frame,
    validate_or_raise,
)
from include.retraining.reference import build_profile

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=28)


def _profile(frame: pd.DataFrame) -> ReferenceProfile:
    """What validation learns from a champion's training rows, as its stored profile gives it."""
    return learned_profile(build_profile(frame, CONFIG)[0])


def _failed(report) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in report.failed}


def test_clean_window_passes_and_writes_json_and_html(tmp_path: Path) -> None:
    report = validate_frame(generate_snapshots(1000, START, END, seed=1), CONFIG, None, tmp_path)
    assert report.success, report.summary()
    assert Path(report.json_path).exists() and "validation passed" in Path(report.html_path).read_text()


def test_null_column_fails_null_share(tmp_path: Path) -> None:
    broken = generate_snapshots(1000, START, END, seed=1, world=World(null_columns=("monthly_charges",)))

    with pytest.raises(DataValidationError) as error:
        validate_or_raise(broken, CONFIG, None, tmp_path)

    failed = _failed(error.value.report)
    assert ("expect_column_values_to_not_be_null", "monthly_charges") in failed
    assert "churn" in str(error.value) and "gx_result.html" in str(error.value)


def test_renamed_category_fails_against_the_champion_profile(tmp_path: Path) -> None:
    reference = _profile(generate_snapshots(1000, START, END, seed=1))
    renamed = generate_snapshots(
        1000, START, END, seed=2, world=World(renamed_categories={"payment_method": {"electronic_check": "e_check"}})
    )

    report = validate_frame(renamed, CONFIG, reference, tmp_path)

    assert ("expect_column_values_to_be_in_set", "payment_method") in _failed(report)


def test_a_rare_new_category_is_tolerated(tmp_path: Path) -> None:
    reference = _profile(generate_snapshots(1000, START, END, seed=1))
    frame = generate_snapshots(1000, START, END, seed=2)
    frame.loc[:9, "payment_method"] = "gift_card"  # 1% of rows

    assert validate_frame(frame, CONFIG, reference, tmp_path).success


def test_missing_target_values_fail(tmp_path: Path) -> None:
    frame = generate_snapshots(500, START, END, seed=1).astype({"churned": "float64"})
    frame.loc[:5, "churned"] = None
    report = validate_frame(frame, CONFIG, None, tmp_path)
    assert ("expect_column_values_to_not_be_null", "churned") in _failed(report)


def test_infinite_values_fail_by_column_name(tmp_path: Path) -> None:
    frame = generate_snapshots(500, START, END, seed=1)
    frame.loc[3, "support_tickets_90d"] = float("inf")  # its range [0, null] has no upper bound
    # (an inf is also beyond the magnitude limit: reported once, with the finite check's fix)

    report = validate_frame(frame, CONFIG, None, tmp_path)

    assert _failed(report) == {("expect_column_values_to_be_finite", "support_tickets_90d")}
    assert "Fix: inf/-inf are broken data" in report.summary()


@pytest.mark.parametrize("value", [1e308, -1e300, 2.0**53 + 2])
def test_a_huge_finite_value_without_a_range_fails_by_column_with_the_fix(tmp_path: Path, value: float) -> None:
    """Finite, so the finite check passes it; the scaler's variance then overflows and scales the
    column to garbage without an error."""
    frame = generate_snapshots(500, START, END, seed=1)
    frame.loc[3, "support_tickets_90d"] = abs(value)  # [0, null]: the upper end is open
    frame.loc[4, "monthly_charges"] = value  # [0, 1000]: the configured range judges it

    report = validate_frame(frame, CONFIG, None, tmp_path)

    assert ("expect_column_values_to_have_plausible_magnitude", "support_tickets_90d") in _failed(report)
    assert ("expect_column_values_to_be_between", "monthly_charges") in _failed(report)
    assert ("expect_column_values_to_have_plausible_magnitude", "monthly_charges") not in _failed(report)
    assert "give it bounds in validation.ranges" in report.summary()


def test_a_range_wider_than_the_magnitude_limit_is_the_users_own(tmp_path: Path) -> None:
    ranges = {**CONFIG.validation.ranges, "support_tickets_90d": (0.0, 1e20)}
    config = CONFIG.model_copy(update={"validation": CONFIG.validation.model_copy(update={"ranges": ranges})})
    frame = generate_snapshots(500, START, END, seed=1)
    frame.loc[3, "support_tickets_90d"] = 1e18

    assert validate_frame(frame, config, None, tmp_path).success


def test_a_categorical_with_more_distinct_values_than_the_limit_fails_with_the_fix(tmp_path: Path) -> None:
    frame = generate_snapshots(1500, START, END, seed=1)
    frame["payment_method"] = [f"account-{i}" for i in range(len(frame))]  # an id declared categorical

    with pytest.raises(DataValidationError) as error:
        validate_or_raise(frame, CONFIG, None, tmp_path)

    message = str(error.value)
    assert "model 'churn'" in message
    assert "expect_column_unique_value_count_to_be_between on payment_method: observed 1500" in message
    assert "expected max_value=1000" in message
    assert "move the column to `features.numeric`" in message and "raise validation.max_categories" in message


def test_the_category_limit_can_be_raised_or_turned_off(tmp_path: Path) -> None:
    frame = generate_snapshots(1500, START, END, seed=1)
    frame["payment_method"] = [f"account-{i}" for i in range(len(frame))]
    for limit in (2000, None):
        rules = CONFIG.validation.model_copy(update={"max_categories": limit})
        config = CONFIG.model_copy(update={"validation": rules})
        assert validate_frame(frame, config, None, tmp_path).success


def test_a_multiclass_target_with_more_classes_than_the_limit_fails_naming_the_target(tmp_path: Path) -> None:
    """Classes are learned from the window: an id named as the target would train a classifier of 1,500."""
    config = CONFIG.model_copy(update={"task": "multiclass", "target": "plan"})
    frame = generate_snapshots(1500, START, END, seed=1)
    frame["plan"] = ["basic", "plus", "pro"] * 500
    assert validate_frame(frame, config, None, tmp_path).success

    frame["plan"] = [f"account-{i}" for i in range(len(frame))]
    with pytest.raises(DataValidationError) as error:
        validate_or_raise(frame, config, None, tmp_path)

    message = str(error.value)
    assert "expect_column_unique_value_count_to_be_between on plan: observed 1500" in message
    assert "check that `target` names the class column" in message


def test_an_infinite_regression_target_fails(tmp_path: Path) -> None:
    config = CONFIG.model_copy(update={"task": "regression", "target": "monthly_charges"})
    config = config.model_copy(
        update={"features": config.features.model_copy(update={"numeric": ["tenure_months", "support_tickets_90d"]})}
    )
    frame = generate_snapshots(500, START, END, seed=1)
    frame.loc[0, "monthly_charges"] = float("-inf")

    assert ("expect_column_values_to_be_finite", "monthly_charges") in _failed(
        validate_frame(frame, config, None, tmp_path)
    )


def test_a_load_that_ran_twice_fails_uniqueness_of_id_and_time(tmp_path: Path) -> None:
    frame = generate_snapshots(500, START, END, seed=1)
    doubled = pd.concat([frame, frame.head(50)], ignore_index=True)

    report = validate_frame(doubled, CONFIG, None, tmp_path)

    assert _failed(report) == {("expect_compound_columns_to_be_unique", "customer_id, snapshot_at")}
    assert "deduplicate" in report.summary()


def test_row_values_stay_out_of_the_summary_unless_opted_in(tmp_path: Path) -> None:
    frame = generate_snapshots(1000, START, END, seed=1)
    frame.loc[:199, "region"] = "<!channel> jane.doe@example.com"

    hidden = validate_frame(frame, CONFIG, None, tmp_path / "default")
    rules = CONFIG.validation.model_copy(update={"include_values_in_alerts": True})
    shown = validate_frame(frame, CONFIG.model_copy(update={"validation": rules}), None, tmp_path / "opt_in")

    assert ("expect_column_values_to_be_in_set", "region") in _failed(hidden)
    assert "jane.doe" not in hidden.summary() and "jane.doe" not in json.dumps(hidden.to_dict())
    assert "jane.doe" in shown.summary()


def test_gx_results_are_written_by_rename_and_a_rerun_replaces_them(tmp_path: Path) -> None:
    frame = generate_snapshots(500, START, END, seed=1)
    validate_frame(frame, CONFIG, None, tmp_path)
    frame.loc[3, "tenure_months"] = -5.0

    report = validate_frame(frame, CONFIG, None, tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["gx_result.html", "gx_result.json"]
    assert json.loads(Path(report.json_path).read_text())["success"] is False
    assert "validation FAILED" in Path(report.html_path).read_text()


def test_a_failed_write_leaves_the_previous_result_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = generate_snapshots(500, START, END, seed=1)
    before = Path(validate_frame(frame, CONFIG, None, tmp_path).json_path).read_text()
    monkeypatch.setattr(artifact_store.os, "replace", _raise_disk_full)

    with pytest.raises(OSError, match="disk full"):
        validate_frame(frame, CONFIG, None, tmp_path)

    assert Path(tmp_path / "gx_result.json").read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def _raise_disk_full(*_: object) -> None:
    raise OSError("disk full")


def test_text_in_a_numeric_column_fails_on_type_and_says_why_the_range_could_not_be_checked(tmp_path: Path) -> None:
    frame = generate_snapshots(500, START, END, seed=1).astype({"tenure_months": "object"})
    frame["tenure_months"] = frame["tenure_months"].astype(str) + " months"

    report = validate_frame(frame, CONFIG, None, tmp_path)

    assert ("expect_column_values_to_be_in_type_list", "tenure_months") in _failed(report)
    between = next(f for f in report.failed if f.expectation == "expect_column_values_to_be_between")
    assert between.detail.startswith("could not be checked: ") and "months" not in between.detail
