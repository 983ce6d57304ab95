"""`python -m retraining backtest` on a generated churn history in a real PostgreSQL warehouse:
the three output files, a run killed mid-way that resumes to the same summary as one left alone,
and production untouched: every file of the data folder (the MLflow store with the production
registered model and its aliases, the pipeline's tables with the promotion log and the alert
outbox, the artifacts) byte for byte, and the warehouse's tables row for row."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, 3, tzinfo=UTC)  # a Monday, 03:00: the churn model's weekly fire
WEEKS, CHANGE_WEEK, ROWS = 6, 5, 500
BACKTEST = ("--start", "2026-02-08", "--end", "2026-02-16T03:00", "--monitor-cron", "0 3 * * 1")
TIMINGS = ("task_seconds",)


def _load_history(url: str) -> None:
    from demo.churn_data import PRICING_CHANGE, STABLE, generate_snapshots, load_window

    for week in range(WEEKS):
        start, end = START + timedelta(weeks=week), START + timedelta(weeks=week + 1)
        world = PRICING_CHANGE if week >= CHANGE_WEEK else STABLE
        load_window(url, "customer_snapshots", generate_snapshots(ROWS, start, end, seed=7, world=world), start, end)


def _production(url: str) -> None:
    """A production champion (v1, with its promotion log row) and one alert in the outbox, by the
    real steps on the production settings."""
    from include.orchestration.alerting import alert_outbox
    from include.retraining import retrain
    from include.retraining.alerts import extraction_stopped_alert
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.tables import upgrade_schema
    from include.retraining.warehouse import Database, Warehouse

    settings = load_settings()
    config = load_model_config(settings.models_dir / "churn.yaml")
    pipeline_db = Database(settings.pipeline_default_url)
    upgrade_schema(pipeline_db)
    run = RunInfo("retrain_churn", "production", START + timedelta(weeks=5), actor="test")
    ctx = StepContext.create(config, settings, run, Warehouse(url), pipeline_db)
    extracted = retrain.extract(ctx)
    trained = retrain.train(ctx, extracted)
    evaluated, _ = retrain.evaluate(ctx, extracted, trained)
    promotion, _ = retrain.promote(ctx, extracted, trained, evaluated)
    assert promotion.action.value == "promoted", promotion
    alert_outbox(settings).record(extraction_stopped_alert("churn", "a production alert", {}, "production/1"), "x")


def _files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _warehouse_tables(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        counts = {name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in names}
    engine.dispose()
    return counts


def _aliases() -> dict[str, str]:
    from mlflow import MlflowClient

    from include.retraining.common import load_settings

    return dict(MlflowClient(load_settings().tracking_uri).get_registered_model("churn").aliases)


def _backtest(out: Path, *given: str) -> subprocess.Popen:
    # One bytecode cache for the three processes: with bytecode writing off, each compiles MLflow, GX and Evidently.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPYCACHEPREFIX": str(out.parent / "pycache")}
    command = [sys.executable, "-m", "retraining", "backtest", "churn", *BACKTEST, *given, "--out", str(out)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_mid_way(process: subprocess.Popen, journal: Path, timeout_s: float = 240) -> None:
    """SIGKILL once the first window is journaled and a run of the second has started or ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = journal.read_text().splitlines() if journal.exists() else []
        windows = [i for i, line in enumerate(lines) if '"record": "window"' in line]
        if windows and len(lines) > windows[0] + 1:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("the backtest journaled no window in time")


def _without_timings(summary: dict) -> dict:
    policies = {name: {k: v for k, v in p.items() if k not in TIMINGS} for name, p in summary["policies"].items()}
    return {**{k: v for k, v in summary.items() if k not in TIMINGS}, "policies": policies}


def test_a_backtest_resumes_after_a_kill_to_the_same_summary_and_never_touches_production(
    postgres_warehouse: str, data_dir: Path, models_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RETRAINING_DB", f"sqlite:///{data_dir / 'pipeline.db'}")
    models_dir(training={"params": {"max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 15}})
    _load_history(postgres_warehouse)
    _production(postgres_warehouse)
    production, warehouse, aliases = _files(data_dir), _warehouse_tables(postgres_warehouse), _aliases()

    whole, killed = _backtest(tmp_path / "whole"), _backtest(tmp_path / "killed")
    _kill_mid_way(killed, tmp_path / "killed" / "journal.jsonl")
    resumed = _backtest(tmp_path / "killed")
    (whole_out, whole_err), (resumed_out, resumed_err) = whole.communicate(), resumed.communicate()

    assert whole.returncode == 0, whole_err[-3000:]
    assert resumed.returncode == 0, resumed_err[-3000:]
    summary = json.loads((tmp_path / "whole" / "summary.json").read_text())
    for key in ("windows", "drift_triggers", "retrains", "promotions", "blocked", "metric", "metric_policy",
                "metric_left_alone", "metric_every_cron", "task_seconds"):  # fmt: skip
        assert key in summary, key
    assert summary["windows"] == 2 and summary["complete"] and summary["metric"] == "roc_auc"
    assert summary["promotions"] >= 1 and summary["drift_triggers"] == 1 and summary["metric_policy"] is not None
    assert "window 2/2" in whole_err  # progress on stderr, and nothing else: the libraries' lines are in the log
    assert [line for line in whole_err.splitlines() if not line.startswith("window ")] == []
    assert (tmp_path / "whole" / "backtest.log").stat().st_size > 0
    assert json.loads(whole_out)["windows"] == 2
    assert _without_timings(json.loads(resumed_out)) == _without_timings(summary)
    for name in ("summary.json", "timeline.png", "report.html"):
        assert (tmp_path / "killed" / name).stat().st_size > 0, name
    assert "<h1>Backtest of churn</h1>" in (tmp_path / "whole" / "report.html").read_text()
    assert _files(data_dir) == production
    assert _warehouse_tables(postgres_warehouse) == warehouse
    assert _aliases() == aliases == {"champion": 1}


def test_the_runs_before_a_time_read_the_source_as_it_was_and_a_rollback_by_hand_goes_through_the_rollback_checks(
    postgres_warehouse: str, data_dir: Path, models_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier state (a SQLite copy that held none of the backtest's rows yet) is what the first
    window's runs read: its retrain stops at extract, on no rows; the second window's runs read the
    PostgreSQL connection and promote the first model. The rollback by hand after it goes through
    `rollback.roll_back`, which refuses it (no previous champion) and moves nothing. A resume with
    another rollback is refused before anything runs."""
    from demo.churn_data import generate_snapshots, load_window
    from include.retraining.backtest import journal_windows

    monkeypatch.setenv("AIRFLOW_CONN_RETRAINING_DB", f"sqlite:///{data_dir / 'pipeline.db'}")
    models_dir(training={"params": {"max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 15}})
    _load_history(postgres_warehouse)
    before = f"sqlite:///{tmp_path / 'warehouse_backup.db'}"
    december = datetime(2025, 12, 1, 3, tzinfo=UTC)  # a backup from before the backtest's rows arrived
    load_window(before, "customer_snapshots", generate_snapshots(ROWS, december, december + timedelta(weeks=1), seed=7),
                december, december + timedelta(weeks=1))  # fmt: skip
    given = ("--source-before", f"2026-02-16T03:00={before}", "--rollback", "2026-02-16T03:00=bad load")
    out = tmp_path / "given"

    process = _backtest(out, *given)
    _, err = process.communicate()
    again = _backtest(out, "--source-before", f"2026-02-16T03:00={before}", "--rollback", "2026-02-16T03:00=another")
    _, refused = again.communicate()

    assert process.returncode == 0, err[-3000:]
    first, second = journal_windows(out)
    assert first["rows"] == 0 and [(r["kind"], r["outcome"]) for r in first["runs"]][-1] == ("retrain", "stopped")
    assert second["rows"] == ROWS
    assert [(r["kind"], r.get("outcome")) for r in second["runs"]][-2:] == [
        ("retrain", "promoted"),
        ("rollback", "refused"),
    ]
    assert "has no previous_champion" in second["runs"][-1]["reason"] and second["champion"] == "1"
    arguments = json.loads((out / "backtest.json").read_text())
    assert arguments["rollbacks"] == [["2026-02-16T03:00:00+00:00", "bad load"]]
    assert arguments["sources_before"] == [["2026-02-16T03:00:00+00:00", before]]
    assert again.returncode == 2 and "backtest refused" in refused and "give another --out" in refused
