"""Unit tests for include.retraining.monitor.steps against a real SQLite warehouse (the source and
the `model_monitoring` ledger), a fake champion and fakes of the tracking and registry adapters."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import load_window
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.drift import DriftDecision, MonitorOutcome
from include.retraining.monitor import MonitoringSkipped, Reported
from include.retraining.monitor import steps as monitor_steps
from include.retraining.runs import RunInfo
from include.retraining.tables import read_history, read_monitoring
from include.retraining.tracking import Champion
from tests.unit.monitor.fakes import (
    CHURN,
    END,
    NO_LABELS,
    RETRAIN,
    FakeModel,
    FakeRegistry,
    FakeTracker,
    FakeWarehouse,
    context,
    drift_result,
    frame,
    ref,
    results,
    sqlite_url,
    windows,
)

pytestmark = pytest.mark.unit

CHAMPION = Champion("3", "x", "models:/churn/3", {})


@pytest.fixture(scope="module")
def config():
    return load_model_config(CHURN)


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    "tz", [None, "UTC", "America/New_York"], ids=["timestamp", "timestamptz UTC", "timestamptz NY"]
)
def test_current_splits_naive_and_aware_timestamps_by_the_same_utc_window(config, settings, tmp_path, tz):
    naive_end = END.replace(tzinfo=None)
    hours = pd.date_range(naive_end - timedelta(days=14), naive_end, freq="30min", inclusive="right")
    stamps = pd.Series(hours).dt.tz_localize("UTC")
    stamps = stamps.dt.tz_convert(tz) if tz else stamps.dt.tz_localize(None)
    fake = FakeWarehouse(sqlite_url(tmp_path), frame(stamps, config.features.columns))

    cur = monitor_steps.current(context(config, settings, warehouse=fake), ref(config.features.columns))

    assert cur.rows_current == cur.rows_matured == 7 * 48
    assert cur.window.end == END and cur.window.start == END - timedelta(days=7)
    assert fake.windows_read[1] == (END - timedelta(days=14), END - timedelta(days=7))
    assert (cur.served_current, cur.served_matured) == (None, None)  # nothing was served


def test_current_also_reads_the_features_only_the_champion_knows(config, settings, tmp_path):
    stamps = pd.Series(pd.date_range(END - timedelta(days=7), END, freq="20min", inclusive="right"))
    rows = frame(stamps.dt.tz_localize(None), [*config.features.columns, "old_feature"])
    load_window(sqlite_url(tmp_path), config.source.table, rows, END - timedelta(days=7), END)
    ctx = context(config, settings, warehouse=sqlite_url(tmp_path))

    cur = monitor_steps.current(ctx, ref(["tenure_months", "old_feature"]))

    read = pd.read_parquet(cur.current)
    assert {"old_feature", "region", "tenure_months"} <= set(read.columns)
    assert cur.rows_current == cur.rows_current_read == len(rows) and not cur.sampled
    assert cur.rows_matured == 0  # nothing was loaded a week earlier


def test_current_skips_a_window_with_too_few_rows(config, settings, tmp_path):
    stamps = pd.Series(pd.date_range(END - timedelta(days=7), END, periods=50))
    fake = FakeWarehouse(sqlite_url(tmp_path), frame(stamps, config.features.columns))

    with pytest.raises(MonitoringSkipped, match="has 49 rows, fewer than monitor.min_rows=200"):
        monitor_steps.current(context(config, settings, warehouse=fake), ref(config.features.columns))


def _later_window_monitored(config, tmp_path: Path) -> str:
    """A real `model_monitoring` with the window a week after END recorded by `report`."""
    url = sqlite_url(tmp_path)
    later = END + timedelta(days=7)
    ctx = context(config, warehouse=url, run=RunInfo("monitor_churn", "r2", later))
    monitor_steps.report(ctx, results(replace(RETRAIN, retrain=False, drift_detected=False), end=later))
    return url


def test_decide_blocks_a_past_window_when_a_later_one_was_monitored(config, tmp_path):
    ctx = context(config, warehouse=_later_window_monitored(config, tmp_path))

    decision = monitor_steps.decide(ctx, drift_result(["monthly_charges"]), NO_LABELS, False)

    assert decision.drift_detected is True and decision.retrain is False
    assert decision.blocked_by.startswith("past window")


def test_decide_skips_a_critical_feature_the_champion_has_no_baseline_for(config):
    columns = ["tenure_months", "support_tickets_90d", "contract", "payment_method", "region"]
    drift = drift_result(["contract"], columns=columns, notes=["not compared (...): monthly_charges"])

    decision = monitor_steps.decide(context(config), drift, NO_LABELS, False)

    assert decision.retrain is True and decision.reasons[0].startswith("critical feature drift: contract")
    assert "critical features not compared: monthly_charges" in decision.notes
    assert decision.notes[-1] == "not compared (...): monthly_charges"  # the drift step's notes kept


def test_decide_blocks_while_a_retrain_runs(config):
    decision = monitor_steps.decide(context(config), drift_result(["contract"]), NO_LABELS, True)

    assert decision.outcome is MonitorOutcome.BLOCKED and decision.blocked_by == "retrain already running"


def test_report_records_a_retrain_as_pending_until_trigger_emits(config, settings, tmp_path):
    tracker = FakeTracker()
    ctx = context(config, settings, warehouse=sqlite_url(tmp_path), tracker=tracker)

    reported = monitor_steps.report(ctx, results(RETRAIN))

    assert reported == Reported("mlflow-run", "r.html", MonitorOutcome.RETRAIN)
    assert reported.to_xcom() == {"mlflow_run_id": "mlflow-run", "report_html": "r.html", "decision": "retrain"}
    (row,) = read_monitoring(ctx.pipeline_db, "churn").to_dict("records")
    assert row["decision"] == "retrain_pending" and row["mlflow_run_id"] == "mlflow-run"
    assert tracker.logged[0].tags["monitoring.decision"] == "retrain"


def test_the_cooldown_counts_only_triggers_that_were_emitted(config, settings, tmp_path):
    ctx = context(config, settings, warehouse=sqlite_url(tmp_path))
    monitor_steps.report(ctx, results(RETRAIN))
    later = END + timedelta(days=1)

    before_trigger = read_history(ctx.pipeline_db, "churn", later, 10)
    monitor_steps.mark_triggered(ctx, results().cur)
    monitor_steps.mark_triggered(ctx, results().cur)  # a retried trigger

    after = read_history(ctx.pipeline_db, "churn", later, 10)
    assert before_trigger.last_trigger_at is None and before_trigger.latest_end == END
    assert after.last_trigger_at == END and after.latest_end == END


def test_marking_a_trigger_without_its_report_row_fails(config, tmp_path):
    ctx = context(config, warehouse=sqlite_url(tmp_path))

    with pytest.raises(Exception, match="model_monitoring|no such table"):
        monitor_steps.mark_triggered(ctx, results().cur)


def test_marking_a_trigger_for_an_interval_that_did_not_decide_to_retrain_fails(config, tmp_path):
    ctx = context(config, warehouse=sqlite_url(tmp_path))
    monitor_steps.report(ctx, results(replace(RETRAIN, retrain=False, blocked_by="cooldown")))

    with pytest.raises(Exception, match="no retrain_pending row in model_monitoring"):
        monitor_steps.mark_triggered(ctx, results().cur)


def test_no_champion_yet_skips_with_the_reason(config):
    ctx = context(config, registry=FakeRegistry(None))

    with pytest.raises(MonitoringSkipped, match="no champion yet"):
        monitor_steps.reference(ctx)


def test_a_missing_champion_snapshot_skips(config, settings):
    ctx = context(config, settings, tracker=FakeTracker(frame=None), registry=FakeRegistry(CHAMPION))

    with pytest.raises(MonitoringSkipped, match="no stored training snapshot or profile"):
        monitor_steps.reference(ctx)


def test_reference_names_the_champion_its_snapshot_and_its_own_features(config, settings):
    rows = frame(pd.Series(range(3)), ["tenure_months"])
    tracker = FakeTracker(FakeModel(["tenure_months"]), frame=rows, metrics={"holdout_roc_auc": 0.81})
    ctx = context(config, settings, tracker=tracker, registry=FakeRegistry(CHAMPION))

    found = monitor_steps.reference(ctx)

    assert found.version == "3" and found.run_id == "x"
    assert found.features == ["tenure_months"] and found.holdout_metric == 0.81
    assert found.snapshot.endswith("reference/v3/sample.parquet") and Path(found.snapshot).exists()


def test_a_feature_added_to_the_model_file_is_noted_not_compared(config, settings, tmp_path):
    old = [c for c in config.features.columns if c != "region"]
    reference, cur = windows(config, tmp_path, old)
    ctx = context(config, settings, tracker=FakeTracker(FakeModel(old)))

    drift = monitor_steps.data_drift(ctx, reference, cur)

    assert "region" not in drift.summary.columns and len(drift.summary.columns) == len(old)
    assert "region" not in drift.evidence.columns and sorted(drift.evidence.columns) == sorted(old)
    assert drift.notes == ["not compared (not in the champion's training data): region"]
    assert drift.prediction_psi >= 0 and drift.prediction_source == "rescored"
    assert Path(drift.report_html).exists() and Path(drift.report_json).exists()


def test_performance_scores_the_champion_on_matured_labels(config, settings, tmp_path):
    reference, cur = windows(config, tmp_path, ["monthly_charges"])
    ctx = context(config, settings, tracker=FakeTracker(FakeModel(["monthly_charges"])))

    perf = monitor_steps.performance(ctx, reference, cur)

    assert perf.rows == 1200 and perf.source == "rescored" and perf.current_value is not None
    assert perf.drop == pytest.approx(0.8 - perf.current_value)


def test_performance_without_a_holdout_value_says_why(config, settings, tmp_path):
    reference, cur = windows(config, tmp_path, ["monthly_charges"])
    ctx = context(config, settings, tracker=FakeTracker(FakeModel(["monthly_charges"])))

    perf = monitor_steps.performance(ctx, replace(reference, holdout_metric=None), cur)

    assert perf.current_value is None and perf.drop is None and "no holdout value" in perf.note


def test_a_rerun_of_an_interval_never_unrecords_its_emitted_trigger(config, settings, tmp_path):
    ctx = context(config, settings, warehouse=sqlite_url(tmp_path))
    blocked = replace(RETRAIN, retrain=False, blocked_by="past window: a later window exists")
    monitor_steps.report(ctx, results(RETRAIN))
    monitor_steps.mark_triggered(ctx, results().cur)

    monitor_steps.report(ctx, results(blocked))

    (row,) = read_monitoring(ctx.pipeline_db, "churn").to_dict("records")
    assert row["decision"] == "retrain" and "rerun: critical; past window" in row["reasons"]
    assert read_history(ctx.pipeline_db, "churn", END + timedelta(days=1), 10).last_trigger_at == END


def test_the_drift_event_names_the_window_and_the_decision(config):
    drift = drift_result(["contract", "monthly_charges"])
    decision = DriftDecision(True, True, ["critical feature drift: contract", "performance drift"], None)

    event = monitor_steps.drift_event(context(config), results().cur, drift, decision)

    assert event.window_end == END.isoformat() and event.monitor_run_id == "r1"
    assert event.reason == "critical feature drift: contract; performance drift"
    assert event.drifted_columns == drift.summary.drifted_columns and event.report == "r.html"
