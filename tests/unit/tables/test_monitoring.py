"""The `model_monitoring` table on a real SQLite database: one row per model and interval, the
trigger ledger (`retrain_pending` -> `retrain` once emitted), and the history a decision reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.retraining.tables import (
    MonitoringHistory,
    latest_monitoring_row,
    mark_trigger_emitted,
    read_history,
    read_monitoring,
    replace_monitoring_row,
)
from include.retraining.warehouse import Database

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 2, 3, tzinfo=UTC)
DAY = timedelta(days=1)


def _row(window_end: datetime, decision: str = "no_drift", model: str = "churn", **extra: object) -> dict:
    return {
        "model": model,
        "window_end": window_end.replace(tzinfo=None),
        "champion_version": "1",
        "decision": decision,
        "drift_detected": decision != "no_drift",
        "reasons": decision,
        "metric_current": None,
        "performance_drop": None,
        "metric_holdout": 0.8,
        **extra,
    }


def test_the_row_is_replaced_per_interval(db: Database) -> None:
    assert read_monitoring(db, "churn").empty and latest_monitoring_row(db, "churn") is None

    replace_monitoring_row(db, _row(END, "retrain"))
    replace_monitoring_row(db, _row(END, "retrain", metric_holdout=0.7))

    rows = read_monitoring(db, "churn")
    assert len(rows) == 1 and rows["metric_holdout"].iloc[0] == 0.7
    assert latest_monitoring_row(db, "churn")["metric_holdout"] == 0.7


def test_a_pending_trigger_counts_only_once_emitted(db: Database) -> None:
    replace_monitoring_row(db, _row(END - DAY, "retrain_pending"))
    assert read_history(db, "churn", END, 10).last_trigger_at is None

    assert mark_trigger_emitted(db, "churn", END - DAY) == 1
    assert mark_trigger_emitted(db, "churn", END - DAY) == 1  # a retry matches the row it marked
    assert mark_trigger_emitted(db, "churn", END) == 0  # no retrain decision recorded there

    assert read_history(db, "churn", END, 10).last_trigger_at == END - DAY


def test_a_rerun_of_an_emitted_interval_keeps_saying_retrain(db: Database) -> None:
    replace_monitoring_row(db, _row(END, "retrain"))

    replace_monitoring_row(db, _row(END, "no_drift"))

    row = latest_monitoring_row(db, "churn")
    assert row["decision"] == "retrain" and row["reasons"].endswith("rerun: no_drift")


def test_no_table_is_an_empty_history(db: Database) -> None:
    assert read_history(db, "churn", END, 5) == MonitoringHistory()


def test_one_read_gives_the_rows_before_oldest_first_the_last_emitted_trigger_and_the_newest_end(
    db: Database,
) -> None:
    decisions = ["no_drift", "retrain", "no_drift", "retrain_pending", "no_drift", "no_drift", "retrain"]
    for day, decision in enumerate(decisions):  # END - 6 days ... END
        replace_monitoring_row(db, _row(END - (6 - day) * DAY, decision))
    replace_monitoring_row(db, _row(END + 9 * DAY, "retrain", model="other"))  # another model's rows never count

    history = read_history(db, "churn", END - DAY, limit=3)

    assert [row["window_end"] for row in history.rows] == [END - 4 * DAY, END - 3 * DAY, END - 2 * DAY]
    assert [row["decision"] for row in history.rows] == ["no_drift", "retrain_pending", "no_drift"]
    assert all(row["window_end"].tzinfo == UTC for row in history.rows)
    assert set(history.rows[0]) == {
        "window_end",
        "champion_version",
        "decision",
        "drift_detected",
        "metric",
        "metric_current",
        "drift_signature",
    }
    assert history.rows[0]["drift_signature"] is None  # recorded before signatures existed
    assert history.last_trigger_at == END - 5 * DAY  # emitted, before `before`: not the pending one, not END's
    assert history.latest_end == END  # a later window was monitored: this one is stale


def test_the_drift_signature_is_read_once_recorded(db: Database) -> None:
    replace_monitoring_row(db, _row(END - DAY, "retrain", drift_signature="monthly_charges"))

    (row,) = read_history(db, "churn", END, 5).rows

    assert row["drift_signature"] == "monthly_charges"
