from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.churn_data import World, generate_snapshots
from include.retraining.config import load_model_config
from include.retraining.validation import DataValidationError, profile_reference, validate_frame, validate_or_raise

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=28)


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
    reference = profile_reference(generate_snapshots(1000, START, END, seed=1), CONFIG)
    renamed = generate_snapshots(
        1000, START, END, seed=2, world=World(renamed_categories={"payment_method": {"electronic_check": "e_check"}})
    )

    report = validate_frame(renamed, CONFIG, reference, tmp_path)

    assert ("expect_column_values_to_be_in_set", "payment_method") in _failed(report)


def test_a_rare_new_category_is_tolerated(tmp_path: Path) -> None:
    reference = profile_reference(generate_snapshots(1000, START, END, seed=1), CONFIG)
    frame = generate_snapshots(1000, START, END, seed=2)
    frame.loc[:9, "payment_method"] = "gift_card"  # 1% of rows

    assert validate_frame(frame, CONFIG, reference, tmp_path).success


def test_missing_target_values_fail(tmp_path: Path) -> None:
    frame = generate_snapshots(500, START, END, seed=1).astype({"churned": "float64"})
    frame.loc[:5, "churned"] = None
    report = validate_frame(frame, CONFIG, None, tmp_path)
    assert ("expect_column_values_to_not_be_null", "churned") in _failed(report)
