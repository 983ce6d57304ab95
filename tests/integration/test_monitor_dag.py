"""monitor_churn on real parts: real DAG runs, Evidently reports, an MLflow monitoring run,
`model_monitoring` rows in the warehouse, and events on the drift asset."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import PRICING_CHANGE, World
from include.orchestration.alerting import alert_outbox
from include.retraining.alerts import read_alerts
from include.retraining.common import load_settings
from include.retraining.tables import read_monitoring
from tests.support import UTC, drift_events, load_weeks, pipeline_db, run_dag

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
TRAINED_AT = START + timedelta(weeks=10)
NEXT_WEEK = TRAINED_AT + timedelta(weeks=1)
# Features as before, but long contracts now churn: only the label relationship moved.
CONCEPT_SHIFT = World(contract_effect={"month_to_month": -0.6, "one_year": 1.2, "two_year": 0.6})
# The task bodies log why a run skipped (and hand Airflow the same text as the skip's reason).
MONITOR_TASKS_LOG = "include.orchestration.monitor_tasks"


@pytest.fixture
def champion(warehouse_backend: str) -> str:
    load_weeks(START, weeks=10)
    assert run_dag("retrain_churn", TRAINED_AT)["promote"] == "success"
    return warehouse_backend


def _rows() -> list[dict]:
    return read_monitoring(pipeline_db(), "churn").to_dict("records")


def test_stable_window_no_drift_then_shift_triggers_once_within_cooldown(champion: str, slack) -> None:
    load_weeks(TRAINED_AT, weeks=1)

    stable = run_dag("monitor_churn", NEXT_WEEK)

    assert stable["report"] == "success" and stable["trigger"] == "skipped"
    assert drift_events() == []
    (row,) = _rows()
    assert row["decision"] == "none" and row["drift_share"] < 0.3
    assert Path(row["report_path"]).exists() and slack.messages == []

    load_weeks(NEXT_WEEK, weeks=1, world=PRICING_CHANGE)
    shifted = run_dag("monitor_churn", NEXT_WEEK + timedelta(weeks=1))

    assert shifted["trigger"] == "success"
    (event,) = drift_events()
    assert "monthly_charges" in event["drifted_columns"] and event["window_end"].startswith("2026-03-30")
    assert _rows()[-1]["decision"] == "retrain" and Path(event["report"]).exists()
    assert "drift detected" in slack.messages[0]["text"] and "monthly_charges" in slack.messages[0]["text"]

    within_cooldown = run_dag("monitor_churn", NEXT_WEEK + timedelta(weeks=1, hours=12))

    assert within_cooldown["trigger"] == "skipped" and len(drift_events()) == 1
    assert _rows()[-1]["decision"] == "blocked" and "cooldown" in _rows()[-1]["reasons"]
    (held,) = _held_back(slack)
    assert "Held back by cooldown: " in held and "Next allowed: from 2026-04-09T00:00:00+00:00" in held

    # A past window (here the shifted one again, after a later window was monitored) never fires.
    past = run_dag("monitor_churn", NEXT_WEEK + timedelta(weeks=1, days=1), {"window_end": event["window_end"]})

    assert past["trigger"] == "skipped" and len(drift_events()) == 1
    shifted_end = pd.Timestamp(event["window_end"]).tz_convert(None)
    (again,) = [row for row in _rows() if pd.Timestamp(row["window_end"]) == shifted_end]
    assert again["decision"] == "retrain" and "past window" in again["reasons"]

    # The same drift, still held back a day later: no second alert.
    still = run_dag("monitor_churn", NEXT_WEEK + timedelta(weeks=1, days=2))

    assert still["report"] == "success" and _rows()[-1]["decision"] == "blocked"
    assert len(_held_back(slack)) == 1


def _held_back(slack) -> list[str]:
    return [m["text"] for m in slack.messages if "retrain held back" in m["text"]]


def test_a_champion_below_alert_below_alerts_once_across_repeated_runs(data_dir, models_dir, slack) -> None:
    models_dir(monitor={"alert_below": 0.99})  # the demo champion's AUC is near 0.8
    load_weeks(START, weeks=11)
    run_dag("retrain_churn", TRAINED_AT)

    first = run_dag("monitor_churn", NEXT_WEEK)
    run_dag("monitor_churn", NEXT_WEEK + timedelta(days=1))
    run_dag("monitor_churn", NEXT_WEEK + timedelta(days=2), {"window_end": NEXT_WEEK.isoformat()})  # a rerun

    assert first["report"] == "success" and len(_rows()) == 2
    (text,) = [m["text"] for m in slack.messages if "below the alert floor" in m["text"]]
    assert text.startswith("*churn: roc_auc 0.") and "below monitor.alert_below 0.9900" in text
    assert "first monitoring run below the floor" in text
    kinds = [alert["kind"] for alert in read_alerts(alert_outbox())]
    assert kinds.count("performance_limit") == 1


def test_monitoring_run_is_logged_to_mlflow(data_dir, models_dir) -> None:
    from mlflow.tracking import MlflowClient

    load_weeks(START, weeks=11)
    run_dag("retrain_churn", TRAINED_AT)

    run_dag("monitor_churn", NEXT_WEEK)

    uri = load_settings().tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("churn-monitoring").experiment_id])
    assert {"drift_share", "prediction_psi", "drift_score.monthly_charges"} <= set(run.data.metrics)
    assert run.data.tags["monitoring.decision"] == "none"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "report")} >= {
        "report/drift_report.html",
        "report/drift_summary.json",
    }


def test_label_relationship_change_is_caught_as_performance_drift(data_dir, models_dir) -> None:
    load_weeks(START, weeks=10)
    run_dag("retrain_churn", TRAINED_AT)
    # The weeks whose labels have matured by the next run, and the current week: same features, new labels.
    load_weeks(TRAINED_AT - timedelta(weeks=2), weeks=3, world=CONCEPT_SHIFT)

    states = run_dag("monitor_churn", NEXT_WEEK)

    (row,) = _rows()
    assert states["trigger"] == "success", row
    assert row["performance_drop"] > 0.03 and "performance" in row["reasons"]
    assert row["drift_share"] < 0.3  # the features did not move
    assert "performance" in drift_events()[0]["reason"]


def _skip_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == MONITOR_TASKS_LOG and "skipped: " in r.getMessage()]


def test_empty_current_window_skips_with_a_reason(data_dir, models_dir, caplog: pytest.LogCaptureFixture) -> None:
    load_weeks(START, weeks=10)
    assert run_dag("retrain_churn", TRAINED_AT)["promote"] == "success"

    with caplog.at_level(logging.WARNING, logger=MONITOR_TASKS_LOG):
        states = run_dag("monitor_churn", TRAINED_AT + timedelta(weeks=5))

    assert states["reference"] == "success" and states["current"] == "skipped" and states["trigger"] == "skipped"
    assert _rows() == [] and drift_events() == []
    (reason,) = _skip_reasons(caplog)
    assert "the window 2026-04-13 .. 2026-04-20 has 0 rows, fewer than monitor.min_rows=200" in reason, reason


def test_no_champion_skips_with_a_reason(data_dir, models_dir, caplog: pytest.LogCaptureFixture) -> None:
    load_weeks(START, weeks=11)

    with caplog.at_level(logging.WARNING, logger=MONITOR_TASKS_LOG):
        states = run_dag("monitor_churn", NEXT_WEEK)

    assert states["reference"] == "skipped" and states["trigger"] == "skipped"
    (reason,) = _skip_reasons(caplog)
    assert "model 'churn' has no champion yet" in reason and "until retrain_churn promotes one" in reason, reason


def test_feature_missing_from_the_warehouse_fails_with_an_alert(data_dir, models_dir) -> None:
    load_weeks(START, weeks=11)
    run_dag("retrain_churn", TRAINED_AT)
    models_dir(features={"numeric": ["tenure_months", "monthly_charges", "support_tickets_90d", "loyalty_points"]})

    states = run_dag("monitor_churn", NEXT_WEEK)

    assert states["current"] == "failed" and states["trigger"] == "upstream_failed"
    (alert,) = read_alerts(alert_outbox())
    assert "loyalty_points" in alert["lines"][0] and drift_events() == []


def test_all_null_column_counts_as_drift_and_the_retrain_it_starts_is_stopped_by_validation(
    data_dir, models_dir
) -> None:
    load_weeks(START, weeks=10)
    run_dag("retrain_churn", TRAINED_AT)
    load_weeks(TRAINED_AT, weeks=1, world=World(null_columns=("monthly_charges",)))

    states = run_dag("monitor_churn", NEXT_WEEK)

    assert states["trigger"] == "success"
    (row,) = _rows()
    assert row["drifted_columns"].startswith("monthly_charges")
