"""Whole-window checks of a sampled model, from the warehouse's aggregates, with the suite's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.config.model import ModelConfigError, load_model_config
from include.retraining.learning.validation import ReferenceProfile
from include.retraining.learning.window_checks import window_failures
from include.retraining.warehouse.sample import HASH_SPACE, WindowAggregates, sample_threshold

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml"
CONFIG = load_model_config(CHURN)
CLEAN = WindowAggregates(
    rows=10_000,
    nulls={c: 0 for c in CONFIG.features.columns},
    minimum={"tenure_months": 0, "monthly_charges": 20, "support_tickets_90d": 0},
    maximum={"tenure_months": 72, "monthly_charges": 120, "support_tickets_90d": 9},
    categories={"contract": {"month_to_month": 6000, "one_year": 4000}, "region": {"north": 10_000}},
)


def _failed(aggregates: WindowAggregates, profile: ReferenceProfile | None = None) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in window_failures(aggregates, CONFIG, profile)}


def test_a_clean_window_passes() -> None:
    assert _failed(CLEAN) == set()


def test_each_rule_is_judged_on_every_row() -> None:
    broken = WindowAggregates(
        rows=150,
        nulls={**CLEAN.nulls, "monthly_charges": 90},
        minimum={**CLEAN.minimum, "tenure_months": -1},
        maximum=CLEAN.maximum,
        categories={**CLEAN.categories, "region": {"north": 90, "North": 10}},
    )

    assert _failed(broken) == {
        ("expect_table_row_count_to_be_between", None),
        ("expect_column_values_to_not_be_null", "monthly_charges"),
        ("expect_column_values_to_be_between", "tenure_months"),
        ("expect_column_values_to_be_in_set", "region"),
    }


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


def test_the_sample_threshold_keeps_everything_of_a_small_window() -> None:
    assert sample_threshold(5_000, 10_000) == HASH_SPACE
    assert sample_threshold(1_000_000, 10_000) == HASH_SPACE // 100


def test_sample_rows_needs_an_id_to_hash(tmp_path: Path) -> None:
    text = CHURN.read_text().replace("  id_column: customer_id\n", "")
    text = text.replace("training:\n", "training:\n  sample_rows: 100000\n")
    path = tmp_path / "churn.yaml"
    path.write_text(text)

    with pytest.raises(ModelConfigError, match="sample_rows.*source.id_column"):
        load_model_config(path)
