"""Unit tests for include.retraining.monitor.record: the model_monitoring row and the MLflow metrics."""

from __future__ import annotations

from dataclasses import replace

import pytest

from include.retraining.config import load_model_config
from include.retraining.drift import ColumnDrift, DriftDecision, DriftSummary
from include.retraining.monitor import MonitoringResults, Performance
from include.retraining.monitor.record import monitoring_row, run_metrics
from tests.unit.monitor.fakes import CHURN, END, RUN, current_window, drift_result, ref

pytestmark = pytest.mark.unit

SUMMARY = DriftSummary.of(
    {
        "a": ColumnDrift("a", "numeric", "PSI", 0.4, 0.1, True),
        "b": ColumnDrift("b", "numeric", "PSI", float("nan"), 0.1, False),
    },
    n_reference=10,
    n_current=9,
)
PERF = Performance("roc_auc", 0.8, 300, 0.75, 0.05)


def _results(retrain: bool, detected: bool, blocked_by: str | None = None) -> MonitoringResults:
    decision = DriftDecision(retrain, detected, ["r"], blocked_by, signature=["a"] if detected else [])
    return MonitoringResults(
        ref=ref(["a"]),
        cur=current_window(rows_current=9, rows_matured=8, rows_current_read=9, rows_matured_read=8),
        drift=replace(drift_result(["a"], ["a", "b"]), summary=SUMMARY, prediction_psi=0.05),
        perf=PERF,
        decision=decision,
    )


@pytest.mark.parametrize(
    ("retrain", "detected", "recorded"),
    [(True, True, "retrain_pending"), (False, True, "blocked"), (False, False, "none")],
)
def test_the_row_records_a_retrain_as_pending(retrain, detected, recorded):
    row = monitoring_row(load_model_config(CHURN), RUN, _results(retrain, detected, None if retrain else "cooldown"))

    assert row["decision"] == recorded
    assert row["window_end"] == END.replace(tzinfo=None) and row["champion_version"] == "3"
    assert row["drift_signature"] == ("a" if detected else "")


def test_blockers_are_part_of_the_recorded_reasons():
    row = monitoring_row(load_model_config(CHURN), RUN, _results(False, True, "cooldown: last at x"))

    assert row["reasons"] == "r; cooldown: last at x"


def test_metrics_skip_columns_without_a_score_and_add_the_matured_metric():
    metrics = run_metrics(_results(True, True))

    assert metrics["drift_score.a"] == 0.4 and "drift_score.b" not in metrics
    assert metrics["matured_roc_auc"] == 0.75 and metrics["performance_drop"] == 0.05
    assert metrics["prediction_psi"] == 0.05 and metrics["rows_current"] == 9
