"""`promotion_outcomes` on SQLite: one row per promotion; a rerun of the verifying window replaces
it, a later window leaves the verdict as it stands."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from include.retraining.tables import PromotionOutcomeRow, outcome_of, read_outcomes, record_outcome
from include.retraining.warehouse import Database

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 23, 3, tzinfo=UTC)


def _row(promotion_id: int, **changes: object) -> PromotionOutcomeRow:
    row = PromotionOutcomeRow(
        promotion_id=promotion_id,
        model="churn",
        from_version="1",
        to_version="2",
        window_start=END - timedelta(days=7),
        window_end=END,
        rows=812,
        metric="roc_auc",
        promised_difference=0.03,
        promised_lower=0.01,
        realized_difference=0.02,
        realized_lower=0.004,
        realized_upper=0.036,
        confidence=0.95,
        method="delong",
        bound_held=True,
        verdict="held",
        airflow_run_id="scheduled__2026-03-23",
        verified_at=datetime(2026, 12, 7, 10, tzinfo=UTC),
    )
    return replace(row, **changes)


def test_a_row_reads_back_as_written(db: Database) -> None:
    assert outcome_of(db, 7) is None and read_outcomes(db, "churn") == []

    record_outcome(db, _row(7))

    assert outcome_of(db, 7) == _row(7)


def test_a_rerun_of_the_window_replaces_the_row_and_a_later_window_does_not(db: Database) -> None:
    record_outcome(db, _row(7))

    rerun = record_outcome(db, _row(7, realized_difference=0.021, airflow_run_id="manual__rerun"))
    later = record_outcome(db, _row(7, window_end=END + timedelta(days=1), verdict="short", bound_held=False))

    assert rerun.airflow_run_id == "manual__rerun"
    assert later == rerun and outcome_of(db, 7) == rerun  # the first out-of-time verdict stands


def test_the_model_s_rows_come_newest_promotion_first_and_an_unpromised_one_keeps_its_none(db: Database) -> None:
    record_outcome(db, _row(3))
    record_outcome(db, _row(9, promised_difference=None, promised_lower=None, bound_held=None, verdict="unpromised"))
    record_outcome(db, _row(5, model="fraud"))

    rows = read_outcomes(db, "churn")

    assert [r.promotion_id for r in rows] == [9, 3]
    assert rows[0].bound_held is None and rows[0].promised_lower is None and rows[1].bound_held is True
