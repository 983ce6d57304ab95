"""Unit tests for include.retraining.monitor.record: the model_monitoring row and the MLflow metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.retraining.config.model import load_model_config
from include.retraining.monitor.record import MonitoringResults, monitoring_row, run_metrics
from tests.unit.monitor_fakes import CHURN, END, RUN, ref

pytestmark = pytest.mark.unit

WINDOW = {"start": (END - timedelta(days=7)).isoformat(), "end": END.isoformat()}
CURRENT = {
    "window": WINDOW,
    "matured_window": WINDOW,
    "current": "",
    "matured": "",
    "rows_current": 9,
    "rows_matured": 8,
}
DRIFT = {
    "n_reference": 10,
    "n_current": 9,
    "drift_share": 0.5,
    "drifted_columns": ["a"],
    "columns": {
        "a": {"column": "a", "kind": "numeric", "stattest": "PSI", "score": 0.4, "threshold": 0.1, "drifted": True},
        "b": {"column": "b", "kind": "numeric", "stattest": "PSI", "score": None, "threshold": 0.1, "drifted": False},
    },
    "prediction_psi": 0.05,
    "report_html": "r.html",
    "report_json": "r.json",
}
PERF = {"metric": "roc_auc", "holdout_value": 0.8, "rows": 300, "current_value": 0.75, "drop": 0.05}


def _results(retrain: bool, detected: bool, blocked_by: str | None = None) -> MonitoringResults:
    decision = {"retrain": retrain, "drift_detected": detected, "reasons": ["r"], "blocked_by": blocked_by, "notes": []}
    return MonitoringResults(ref=ref(["a"]), cur=CURRENT, drift=DRIFT, perf=PERF, decision=decision)


@pytest.mark.parametrize(
    ("retrain", "detected", "recorded"),
    [(True, True, "retrain_pending"), (False, True, "blocked"), (False, False, "none")],
)
def test_the_row_records_a_retrain_as_pending(retrain, detected, recorded):
    row = monitoring_row(load_model_config(CHURN), RUN, _results(retrain, detected, None if retrain else "cooldown"))

    assert row["decision"] == recorded
    assert row["window_end"] == END.replace(tzinfo=None) and row["champion_version"] == "3"


def test_blockers_are_part_of_the_recorded_reasons():
    row = monitoring_row(load_model_config(CHURN), RUN, _results(False, True, "cooldown: last at x"))

    assert row["reasons"] == "r; cooldown: last at x"


def test_metrics_skip_columns_without_a_score_and_add_the_matured_metric():
    metrics = run_metrics(_results(True, True))

    assert metrics["drift_score.a"] == 0.4 and "drift_score.b" not in metrics
    assert metrics["matured_roc_auc"] == 0.75 and metrics["performance_drop"] == 0.05
