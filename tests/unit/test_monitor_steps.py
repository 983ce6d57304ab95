"""Unit tests for include.retraining.monitor_steps against small fakes of the warehouse adapter
and of the champion, plus the `model_monitoring` ledger on a real SQLite warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from include.retraining import monitor_champion, monitor_steps, warehouse
from include.retraining.config import load_model_config
from include.retraining.drift import ColumnDrift, DriftSummary
from include.retraining.monitor_contracts import ChampionUnusable
from include.retraining.monitor_record import MonitoringResults
from include.retraining.pipeline import RunInfo
from include.retraining.settings import load_settings

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml"
END = datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
RUN = RunInfo(dag_id="monitor_churn", run_id="r1", window_end=END)


@pytest.fixture(scope="module")
def config():
    return load_model_config(CHURN)


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})


class FakeWarehouse:
    """The monitor's warehouse calls, answered from memory."""

    WarehouseError = warehouse.WarehouseError

    def __init__(self, frame: pd.DataFrame | None = None, last: datetime | None = None, latest: datetime | None = None):
        self.frame, self.last, self.latest = frame, last, latest
        self.columns_read: list[str] = []
        self.rows: list[dict] = []

    def read_window(self, url, source, columns, start, end):
        self.columns_read = list(columns)
        return self.frame

    def last_trigger_at(self, url, model, before):
        return self.last

    def latest_monitoring_end(self, url, model):
        return self.latest

    def replace_monitoring_row(self, url, row):
        self.rows.append(row)


class FakeModel:
    """A champion fitted on `features`: scores the first feature, refuses any other column set."""

    def __init__(self, features: list[str]):
        self.feature_names_in_ = np.array(features, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if list(frame.columns) != list(self.feature_names_in_):
            raise ValueError(f"columns are missing: {set(self.feature_names_in_) - set(frame.columns)}")
        p = np.clip(frame.iloc[:, 0].to_numpy(dtype=float) / 100, 0, 1)
        return np.column_stack([1 - p, p])


def _frame(timestamps: pd.Series, columns: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = {"snapshot_at": timestamps, "churned": rng.integers(0, 2, len(timestamps))}
    for column in columns:
        data[column] = rng.normal(50, 10, len(timestamps)) if column != "contract" else "one_year"
    return pd.DataFrame(data)


def _ref(features: list[str]) -> dict:
    return {"version": "3", "run_id": "x", "snapshot": "", "holdout_metric": 0.8, "features": features}


@pytest.mark.parametrize(
    "tz", [None, "UTC", "America/New_York"], ids=["timestamp", "timestamptz UTC", "timestamptz NY"]
)
def test_current_splits_naive_and_aware_timestamps_by_the_same_utc_window(config, settings, monkeypatch, tz):
    naive_end = END.replace(tzinfo=None)
    hours = pd.date_range(naive_end - timedelta(days=14), naive_end, freq="30min", inclusive="right")
    stamps = pd.Series(hours).dt.tz_localize("UTC")
    stamps = stamps.dt.tz_convert(tz) if tz else stamps.dt.tz_localize(None)
    fake = FakeWarehouse(_frame(stamps, config.features.columns))
    monkeypatch.setattr(monitor_steps, "warehouse", fake)

    cur = monitor_steps.current(config, settings, RUN, "sqlite://", _ref(config.features.columns))

    assert cur["rows_current"] == 7 * 48
    assert cur["window"]["end"].startswith("2026-03-30T02:00")


def test_current_also_reads_the_features_only_the_champion_knows(config, settings, monkeypatch):
    stamps = pd.Series(pd.date_range(END - timedelta(days=7), END, freq="20min", inclusive="right"))
    fake = FakeWarehouse(_frame(stamps, [*config.features.columns, "old_feature"]))
    monkeypatch.setattr(monitor_steps, "warehouse", fake)

    monitor_steps.current(config, settings, RUN, "sqlite://", _ref(["tenure_months", "old_feature"]))

    assert fake.columns_read[-1] == "old_feature" and "region" in fake.columns_read


def test_the_champion_is_scored_with_its_own_feature_list(config, monkeypatch):
    monkeypatch.setattr(monitor_champion, "load_champion", lambda _: FakeModel(["monthly_charges", "old_feature"]))
    frame = _frame(pd.Series(range(5)), [*config.features.columns, "old_feature"])

    scores = monitor_champion.scores(config, _ref(["monthly_charges", "old_feature"]), frame)

    assert scores.shape == (5,)


def test_champion_features_come_from_the_fitted_model(config, monkeypatch):
    monkeypatch.setattr(monitor_champion, "load_champion", lambda _: FakeModel(["a", "b"]))

    assert monitor_champion.champion_features(config, "3") == ["a", "b"]


@pytest.mark.parametrize(
    "error", [FileNotFoundError("model.skops"), ValueError("bad zip"), ModuleNotFoundError("sklearn.old")]
)
def test_a_champion_that_cannot_be_loaded_is_unusable_with_an_alert(config, monkeypatch, error):
    def broken(_):
        raise error

    monkeypatch.setattr(monitor_champion, "load_champion", broken)

    with pytest.raises(ChampionUnusable, match=r"champion_unusable: model 'churn' champion version 3") as caught:
        monitor_champion.champion_features(config, "3")
    alert = caught.value.to_alert({}, "monitor_churn/r1/champion_unusable")
    assert alert.kind == "champion_unusable" and "version 3" in alert.lines[0]


def test_a_service_that_does_not_answer_is_not_read_as_a_broken_champion(config, monkeypatch):
    def down(_):
        raise ConnectionRefusedError("tracking server down")

    monkeypatch.setattr(monitor_champion, "load_champion", down)

    with pytest.raises(ConnectionRefusedError):
        monitor_champion.champion_features(config, "3")


def test_a_champion_that_cannot_score_the_window_is_unusable(config, monkeypatch):
    monkeypatch.setattr(monitor_champion, "load_champion", lambda _: FakeModel(["monthly_charges"]))
    frame = _frame(pd.Series(range(5)), ["monthly_charges"]).assign(monthly_charges="n/a")

    with pytest.raises(ChampionUnusable, match="scoring failed"):
        monitor_champion.scores(config, _ref(["monthly_charges"]), frame)


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
    monkeypatch.setattr(monitor_steps, "warehouse", FakeWarehouse(latest=END + timedelta(days=7)))

    decision = monitor_steps.decide(config, RUN, _drift(["monthly_charges"]), NO_LABELS, "sqlite://", False)

    assert decision["drift_detected"] is True and decision["retrain"] is False
    assert decision["blocked_by"].startswith("past window")


def test_decide_skips_a_critical_feature_the_champion_has_no_baseline_for(config, monkeypatch):
    monkeypatch.setattr(monitor_steps, "warehouse", FakeWarehouse())
    drift = _drift(["contract"])
    del drift["columns"]["monthly_charges"]

    decision = monitor_steps.decide(config, RUN, drift, NO_LABELS, "sqlite://", False)

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
        ref=_ref(["a"]), cur=cur, drift=_drift(["monthly_charges"]), perf=NO_LABELS, decision=decision
    )


def test_report_records_a_retrain_as_pending_until_trigger_emits(config, settings, monkeypatch):
    fake = FakeWarehouse()
    monkeypatch.setattr(monitor_steps, "warehouse", fake)
    monkeypatch.setattr(monitor_steps, "log_monitoring_run", lambda *args: "mlflow-run")
    decision = {"retrain": True, "drift_detected": True, "reasons": ["critical"], "blocked_by": None, "notes": []}

    result = monitor_steps.report(config, settings, RUN, _results(decision), "sqlite://")

    assert result == {"mlflow_run_id": "mlflow-run", "report_html": "r.html", "decision": "retrain"}
    assert fake.rows[0]["decision"] == "retrain_pending" and fake.rows[0]["mlflow_run_id"] == "mlflow-run"


def test_the_cooldown_counts_only_triggers_that_were_emitted(config, settings, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setattr(monitor_steps, "log_monitoring_run", lambda *args: "mlflow-run")
    retrain = {"retrain": True, "drift_detected": True, "reasons": ["critical"], "blocked_by": None, "notes": []}
    monitor_steps.report(config, settings, RUN, _results(retrain), url)
    later = END + timedelta(days=1)

    before_trigger = warehouse.last_trigger_at(url, "churn", later)
    monitor_steps.mark_triggered(config, _results(retrain).cur, url)
    monitor_steps.mark_triggered(config, _results(retrain).cur, url)  # a retried trigger

    assert before_trigger is None
    assert warehouse.last_trigger_at(url, "churn", later) == END
    assert warehouse.latest_monitoring_end(url, "churn") == END


def test_marking_a_trigger_without_its_report_row_fails(config, tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    with pytest.raises(Exception, match="model_monitoring|no such table"):
        monitor_steps.mark_triggered(config, _results({}).cur, url)


def test_a_missing_champion_snapshot_skips(config, settings, monkeypatch):
    client = SimpleNamespace(get_run=lambda _: SimpleNamespace(data=SimpleNamespace(metrics={}, tags={})))
    monkeypatch.setattr(monitor_steps.registry, "configure", lambda _: client)
    monkeypatch.setattr(monitor_steps.registry, "get_champion", lambda *_: SimpleNamespace(version="3", run_id="x"))
    monkeypatch.setattr(monitor_steps, "champion_snapshot", lambda *_: None)

    with pytest.raises(monitor_steps.MonitoringSkipped, match="no stored training snapshot"):
        monitor_steps.reference(config, settings)
