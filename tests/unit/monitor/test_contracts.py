"""Unit tests for include.retraining.monitor.contracts: every task result survives the XCom
boundary (`to_xcom`, JSON, `from_xcom` gives the same object), and an XCom written by an older
release, without the keys added since, still parses with their documented defaults."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from include.retraining.common import Window
from include.retraining.drift import MonitorOutcome
from include.retraining.monitor import (
    CurrentWindow,
    DriftEvent,
    DriftResult,
    Performance,
    PerformanceEstimate,
    Reported,
    SeasonalWindow,
)
from include.retraining.monitor.contracts import ServedFigures, ShadowFigures
from tests.unit.monitor.fakes import END, WINDOW, current_window, drift_result, ref

pytestmark = pytest.mark.unit

MATURED = Window(WINDOW.start - timedelta(days=7), WINDOW.end - timedelta(days=7))
ESTIMATE = PerformanceEstimate("roc_auc", 0.77, 0.8, 0.03, 0.02, 900)
SERVED = Performance(
    "roc_auc",
    0.8,
    1350,
    0.78,
    0.02,
    source="served",
    coverage=0.9,
    rows_served=1500,
    versions=[
        ServedFigures("champion", "3", 1500, 1350, 0.9, 0.78),
        ServedFigures("champion", "2", 40, 4, 0.1, None, "label coverage 0.10 < labels.min_coverage=0.5"),
    ],
    shadow=[ShadowFigures("4", ["3"], 1350, 0.78, 0.71)],
)


def _through_xcom(data: dict[str, Any]) -> dict[str, Any]:
    """What the next task reads: XCom stores JSON."""
    return json.loads(json.dumps(data, allow_nan=False))


@pytest.mark.parametrize(
    "contract",
    [
        ref(["tenure_months", "region"], "/data/reference/v3/sample.parquet"),
        ref(["a"], holdout=None),
        current_window(matured_window=MATURED),
        current_window(matured_window=MATURED, sampled=True, rows_current_read=500, served_current="s.parquet"),
        SeasonalWindow("season_ago", MATURED, "/data/seasonal.parquet", 3000),
        SeasonalWindow("previous_window", MATURED, None, 12, "not enough history"),
        SeasonalWindow("none"),
        drift_result(["monthly_charges"]),
        drift_result(["contract"], notes=["n"], prediction_source="served", rows_served=7, estimate=ESTIMATE),
        Performance("roc_auc", 0.8, 300, 0.75, 0.05),
        Performance("roc_auc", None, 12, None, None, note="12 rows with matured labels (< monitor.min_rows)"),
        SERVED,
    ],
    ids=lambda c: type(c).__name__,
)
def test_a_task_result_round_trips_through_xcom(contract):
    back = type(contract).from_xcom(_through_xcom(contract.to_xcom()))

    assert back == contract


def test_the_drift_result_keeps_its_flat_keys_for_the_ui_and_older_readers():
    drift = drift_result(["monthly_charges"], estimate=ESTIMATE)

    data = drift.to_xcom()

    assert data["report_html"] == "r.html" and data["drifted_columns"] == ["monthly_charges"]
    assert data["evidence"]["columns"]["monthly_charges"]["drifted"] is True
    assert data["performance_estimate"]["text"] == ESTIMATE.describe()
    assert "performance_estimate" not in drift_result([]).to_xcom()


def test_a_rescored_performance_omits_the_served_keys():
    assert set(Performance("roc_auc", 0.8, 300, 0.75, 0.05).to_xcom()) == {
        "metric",
        "holdout_value",
        "rows",
        "current_value",
        "drop",
        "source",
    }


def test_a_current_window_from_before_sampling_and_serving_reads_every_row_as_read():
    older = {
        "window": WINDOW.to_dict(),
        "matured_window": MATURED.to_dict(),
        "current": "c.parquet",
        "matured": "m.parquet",
        "rows_current": 900,
        "rows_matured": 800,
    }

    found = CurrentWindow.from_xcom(older)

    assert found == CurrentWindow(WINDOW, MATURED, "c.parquet", "m.parquet", 900, 800, 900, 800)
    assert (found.sampled, found.served_current, found.served_matured) == (False, None, None)


def test_a_seasonal_window_with_only_its_mode_parses():
    assert SeasonalWindow.from_xcom({"mode": "none"}) == SeasonalWindow("none")


def test_a_drift_result_from_before_the_optional_keys_parses_with_their_defaults():
    drift = drift_result(["monthly_charges"])
    optional = ("notes", "prediction_source", "rows_served", "rows_window", "rows_read", "sampled")
    older = {key: value for key, value in _through_xcom(drift.to_xcom()).items() if key not in optional}

    found = DriftResult.from_xcom(older)

    assert found.summary == drift.summary and found.evidence == drift.evidence
    assert (found.rows_window, found.rows_read) == (5000, 5000)  # the compared rows: all that was read
    assert (found.notes, found.prediction_source, found.rows_served, found.estimate) == ([], "rescored", 0, None)


def test_a_performance_from_before_served_predictions_parses_as_rescored():
    older = {"metric": "roc_auc", "holdout_value": 0.8, "rows": 300, "current_value": 0.75, "drop": 0.05}

    found = Performance.from_xcom(older)

    assert found == Performance("roc_auc", 0.8, 300, 0.75, 0.05, source="rescored")
    assert found.versions == [] and found.shadow == [] and found.coverage is None


def test_served_figures_without_a_note_read_back_with_an_empty_one():
    data = _through_xcom(SERVED.to_xcom())

    assert "note" not in data["versions"][0] and "note" in data["versions"][1]
    assert Performance.from_xcom(data).versions[0].note == ""


def test_the_report_and_the_drift_event_hand_on_plain_json():
    reported = Reported("run-1", "r.html", MonitorOutcome.RETRAIN)
    event = DriftEvent("critical", END.isoformat(), 0.5, ["contract"], 0.01, "r1", "r.html")

    assert _through_xcom(reported.to_xcom()) == {
        "mlflow_run_id": "run-1",
        "report_html": "r.html",
        "decision": "retrain",
    }
    assert _through_xcom(event.to_extra())["window_end"] == END.isoformat()
    assert set(event.to_extra()) == {
        "reason",
        "window_end",
        "drift_share",
        "drifted_columns",
        "prediction_psi",
        "monitor_run_id",
        "report",
    }
