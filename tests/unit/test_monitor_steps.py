"""Unit tests for include.retraining.monitor.steps against small fakes of the warehouse adapter
and of the champion, plus the `model_monitoring` ledger on a real SQLite warehouse."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from include.retraining.common.settings import load_settings
from include.retraining.config.model import load_model_config
from include.retraining.drift.summary import ColumnDrift, DriftSummary
from include.retraining.monitor import steps as monitor_steps
from include.retraining.monitor.contracts import MonitoringSkipped
from include.retraining.monitor.record import MonitoringResults
from include.retraining.tables import monitoring as monitoring_table
from tests.unit.monitor_fakes import (
    CHURN,
    END,
    FakeModel,
    FakeRegistry,
    FakeTracker,
    FakeWarehouse,
    context,
    frame,
    ref,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config():
    return load_model_config(CHURN)


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})


def _use(monkeypatch, fake: FakeWarehouse) -> FakeWarehouse:
    """The fake answers for both warehouse modules: window reads and the monitoring table."""
    monkeypatch.setattr(monitor_steps, "warehouse", fake)
    monkeypatch.setattr(monitor_steps, "warehouse_sample", fake)
    monkeypatch.setattr(monitor_steps, "monitoring_table", fake)
    return fake


@pytest.mark.parametrize(
    "tz", [None, "UTC", "America/New_York"], ids=["timestamp", "timestamptz UTC", "timestamptz NY"]
)
def test_current_splits_naive_and_aware_timestamps_by_the_same_utc_window(config, settings, monkeypatch, tz):
    naive_end = END.replace(tzinfo=None)
    hours = pd.date_range(naive_end - timedelta(days=14), naive_end, freq="30min", inclusive="right")
    stamps = pd.Series(hours).dt.tz_localize("UTC")
    stamps = stamps.dt.tz_convert(tz) if tz else stamps.dt.tz_localize(None)
    fake = FakeWarehouse(frame(stamps, config.features.columns))
    _use(monkeypatch, fake)

    cur = monitor_steps.current(context(config, settings), ref(config.features.columns))

    assert cur["rows_current"] == cur["rows_matured"] == 7 * 48
    assert cur["window"]["end"].startswith("2026-03-30T02:00")
    assert fake.windows_read[1] == (END - timedelta(days=14), END - timedelta(days=7))


def test_current_also_reads_the_features_only_the_champion_knows(config, settings, monkeypatch):
    stamps = pd.Series(pd.date_range(END - timedelta(days=7), END, freq="20min", inclusive="right"))
    fake = FakeWarehouse(frame(stamps, [*config.features.columns, "old_feature"]))
    _use(monkeypatch, fake)

    monitor_steps.current(context(config, settings), ref(["tenure_months", "old_feature"]))

    assert fake.columns_read[-1] == "old_feature" and "region" in fake.columns_read


def _drift(drifted: list[str]) -> dict:
    columns = {
        name: ColumnDrift(
            name, "numeric", "Wasserstein distance (normed)", 0.5 if name in drifted else 0.01, 0.1, name in drifted
        )
        for name in ["tenure_months", "monthly_charges", "support_tickets_90d", "contract", "payment_method", "region"]
    }
    return {
        **DriftSummary.of(columns, 5000, 5000).to_dict(),
        "prediction_psi": 0.01,
        "report_html": "r.html",
        "report_json": "r.json",
    }


NO_LABELS = {"metric": "roc_auc", "holdout_value": 0.8, "rows": 0, "current_value": None, "drop": None}


def test_decide_blocks_a_past_window_when_a_later_one_was_monitored(config, monkeypatch):
    _use(monkeypatch, FakeWarehouse(latest=END + timedelta(days=7)))

    decision = monitor_steps.decide(context(config), _drift(["monthly_charges"]), NO_LABELS, False)

    assert decision["drift_detected"] is True and decision["retrain"] is False
    assert decision["blocked_by"].startswith("past window")


def test_decide_skips_a_critical_feature_the_champion_has_no_baseline_for(config, monkeypatch):
    _use(monkeypatch, FakeWarehouse())
    drift = _drift(["contract"])
    del drift["columns"]["monthly_charges"]

    decision = monitor_steps.decide(context(config), drift, NO_LABELS, False)

    assert decision["retrain"] is True
    assert "critical features not compared: monthly_charges" in decision["notes"]


def _results(decision: dict) -> MonitoringResults:
    window = {"start": (END - timedelta(days=7)).isoformat(), "end": END.isoformat()}
    cur = {
        "window": window,
        "matured_window": window,
        "current": "",
        "matured": "",
        "rows_current": 900,
        "rows_matured": 800,
    }
    return MonitoringResults(
        ref=ref(["a"]), cur=cur, drift=_drift(["monthly_charges"]), perf=NO_LABELS, decision=decision
    )


def test_report_records_a_retrain_as_pending_until_trigger_emits(config, settings, monkeypatch):
    fake = FakeWarehouse()
    _use(monkeypatch, fake)
    tracker = FakeTracker()
    decision = {"retrain": True, "drift_detected": True, "reasons": ["critical"], "blocked_by": None, "notes": []}

    result = monitor_steps.report(context(config, settings, tracker=tracker), _results(decision))

    assert result == {"mlflow_run_id": "mlflow-run", "report_html": "r.html", "decision": "retrain"}
    assert fake.rows[0]["decision"] == "retrain_pending" and fake.rows[0]["mlflow_run_id"] == "mlflow-run"
    assert tracker.logged[0].tags["monitoring.decision"] == "retrain"


def test_the_cooldown_counts_only_triggers_that_were_emitted(config, settings, tmp_path):
    ctx = context(config, settings, url=f"sqlite:///{tmp_path / 'warehouse.db'}")
    url = ctx.warehouse_url
    retrain = {"retrain": True, "drift_detected": True, "reasons": ["critical"], "blocked_by": None, "notes": []}
    monitor_steps.report(ctx, _results(retrain))
    later = END + timedelta(days=1)

    before_trigger = monitoring_table.last_trigger_at(url, "churn", later)
    monitor_steps.mark_triggered(ctx, _results(retrain).cur)
    monitor_steps.mark_triggered(ctx, _results(retrain).cur)  # a retried trigger

    assert before_trigger is None
    assert monitoring_table.last_trigger_at(url, "churn", later) == END
    assert monitoring_table.latest_monitoring_end(url, "churn") == END


def test_marking_a_trigger_without_its_report_row_fails(config, tmp_path):
    ctx = context(config, url=f"sqlite:///{tmp_path / 'warehouse.db'}")

    with pytest.raises(Exception, match="model_monitoring|no such table"):
        monitor_steps.mark_triggered(ctx, _results({}).cur)


def test_no_champion_yet_skips_with_the_reason(config):
    ctx = context(config, registry=FakeRegistry(None))

    with pytest.raises(MonitoringSkipped, match="no champion yet"):
        monitor_steps.reference(ctx)


def test_a_missing_champion_snapshot_skips(config):
    champion = SimpleNamespace(version="3", run_id="x")
    ctx = context(config, tracker=FakeTracker(frame=None), registry=FakeRegistry(champion))

    with pytest.raises(MonitoringSkipped, match="no stored training snapshot or profile"):
        monitor_steps.reference(ctx)


def test_reference_names_the_champion_its_snapshot_and_its_own_features(config, settings):
    champion = SimpleNamespace(version="3", run_id="x")
    rows = frame(pd.Series(range(3)), ["tenure_months"])
    tracker = FakeTracker(FakeModel(["tenure_months"]), frame=rows, metrics={"holdout_roc_auc": 0.81})
    ctx = context(config, settings, tracker=tracker, registry=FakeRegistry(champion))

    ref_info = monitor_steps.reference(ctx)

    assert ref_info["features"] == ["tenure_months"] and ref_info["holdout_metric"] == 0.81
    assert ref_info["snapshot"].endswith("reference/v3/sample.parquet") and Path(ref_info["snapshot"]).exists()


def _windows(config, tmp_path: Path, reference_columns: list[str]) -> tuple[dict, dict]:
    """A champion reference snapshot with `reference_columns` and a current/matured window with
    every configured feature, as parquet files the steps read."""
    stamps = pd.Series(pd.date_range("2026-03-01", periods=1200, freq="10min"))
    reference_path, current_path = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    frame(stamps, reference_columns).to_parquet(reference_path)
    frame(stamps, config.features.columns).to_parquet(current_path)
    ref_info = {**ref(reference_columns), "snapshot": str(reference_path)}
    window = {"start": (END - timedelta(days=7)).isoformat(), "end": END.isoformat()}
    cur = {"window": window, "matured_window": window, "current": str(current_path), "matured": str(current_path)}
    return ref_info, {**cur, "rows_current": 1200, "rows_matured": 1200}


def test_a_feature_added_to_the_model_file_is_noted_not_compared(config, settings, tmp_path):
    old = [c for c in config.features.columns if c != "region"]
    ref_info, cur = _windows(config, tmp_path, old)
    ctx = context(config, settings, tracker=FakeTracker(FakeModel(old)))

    drift = monitor_steps.data_drift(ctx, ref_info, cur)

    assert "region" not in drift["columns"] and len(drift["columns"]) == len(old)
    assert drift["notes"] == ["not compared (not in the champion's training data): region"]
    assert drift["prediction_psi"] >= 0 and Path(drift["report_html"]).exists()


def test_performance_scores_the_champion_on_matured_labels(config, settings, tmp_path):
    ref_info, cur = _windows(config, tmp_path, ["monthly_charges"])
    ctx = context(config, settings, tracker=FakeTracker(FakeModel(["monthly_charges"])))

    perf = monitor_steps.performance(ctx, ref_info, cur)

    assert perf["rows"] == 1200 and perf["drop"] == pytest.approx(0.8 - perf["current_value"])


def test_a_rerun_of_an_interval_never_unrecords_its_emitted_trigger(config, settings, tmp_path):
    ctx = context(config, settings, url=f"sqlite:///{tmp_path / 'warehouse.db'}")
    retrain = {"retrain": True, "drift_detected": True, "reasons": ["critical"], "blocked_by": None, "notes": []}
    blocked = {**retrain, "retrain": False, "blocked_by": "past window: a later window exists"}
    monitor_steps.report(ctx, _results(retrain))
    monitor_steps.mark_triggered(ctx, _results(retrain).cur)

    monitor_steps.report(ctx, _results(blocked))

    (row,) = monitoring_table.read_monitoring(ctx.warehouse_url, "churn").to_dict("records")
    assert row["decision"] == "retrain" and "rerun: critical; past window" in row["reasons"]
    assert monitoring_table.last_trigger_at(ctx.warehouse_url, "churn", END + timedelta(days=1)) == END
