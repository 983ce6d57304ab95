"""`make demo`'s timeline, run as `make demo` runs it (its own process, its own scheduler), on a
scratch data folder; the story is asserted on decisions and registry state, not on log text."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from mlflow.tracking import MlflowClient

from demo import timeline
from include.retraining.alerts import read_alerts
from tests.support import REPO, UTC

pytestmark = pytest.mark.integration


class Demo(NamedTuple):
    data: Path
    summary: dict
    started: datetime
    finished: datetime


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data = tmp_path_factory.mktemp("demo") / ".data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RETRAINING_", "MLFLOW_"))}
    env["RETRAINING_DATA_DIR"] = str(data)
    started = datetime.now(UTC)
    result = subprocess.run(
        [sys.executable, "-m", "demo.run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((data / "demo" / "summary.json").read_text())
    return Demo(data, summary, started, datetime.now(UTC))


def _week(summary: dict, index: int) -> dict:
    return next(w for w in summary["weeks"] if w["week"] == index)


def test_stable_weeks_raise_no_drift(demo) -> None:
    summary = demo.summary
    for index in range(timeline.FIRST_RUN_WEEK + 1, timeline.PRICING_CHANGE_WEEK + 1):
        assert _week(summary, index)["monitor"]["trigger"] == "skipped", index


def test_drift_after_the_pricing_change_starts_a_retrain_through_the_asset_that_promotes(demo) -> None:
    summary = demo.summary
    after = [w for w in summary["weeks"] if w["week"] > timeline.PRICING_CHANGE_WEEK]
    assert after[0]["monitor"]["trigger"] == "success", "the first window after the change is caught"
    assert "drift_retrain" in after[0], "the scheduler ran a retrain from the drift event"
    assert any(w.get("drift_retrain") == "promoted" for w in after)


def test_broken_load_is_stopped_by_validation_and_nothing_is_promoted(demo) -> None:
    summary = demo.summary
    blocked = [
        w
        for w in summary["weeks"]
        if "validation blocked" in (w.get("drift_retrain", "") + w.get("weekly_retrain", ""))
    ]
    assert blocked, "a retrain over the broken week must stop at validation"
    for week in blocked:
        before = _week(summary, week["week"] - 1)["champion"]
        assert week["champion"] == before, "a validation-blocked week moves no champion"


def test_every_gate_failure_alerted_and_the_registry_matches(demo) -> None:
    data, summary = demo.data, demo.summary
    kinds = [a["kind"] for a in read_alerts(data / "alerts.jsonl")]
    assert {"drift_detected", "gate_blocked", "validation_failed"} <= set(kinds)
    uri = f"sqlite:///{data / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("churn", "champion")
    assert str(champion.version) == summary["weeks"][-1]["champion"]
    assert champion.tags["retraining.decision"] == "promote"


def test_the_retrained_champion_beats_the_model_left_alone_and_the_picture_is_written(demo) -> None:
    data, summary = demo.data, demo.summary
    assert summary["gap"] > 0.01
    picture = data / "demo" / "timeline.png"
    assert picture.exists() and picture.stat().st_size > 10_000


def _utc(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


def test_the_airflow_ui_shows_real_run_times_and_simulated_weeks_only_as_window_end(demo) -> None:
    """Simulated time reaches the DAGs as a backfill would (the window_end param); every run's
    logical date, start and end are the real clock's, so the UI's durations are real."""
    with sqlite3.connect(demo.data / "airflow" / "airflow.db") as db:
        runs = db.execute("SELECT dag_id, run_type, logical_date, start_date, end_date, conf FROM dag_run").fetchall()
    assert {run[1] for run in runs} == {"manual", "asset_triggered"}
    for dag_id, run_type, logical, start, end, _ in runs:
        start, end = _utc(start), _utc(end)
        assert demo.started <= start <= end <= demo.finished, (dag_id, run_type, start, end)
        assert logical is None or demo.started <= _utc(logical) <= demo.finished, (dag_id, logical)
    weekly = [
        json.loads(conf) for dag_id, run_type, *_, conf in runs if run_type == "manual" and dag_id != "rollback_churn"
    ]
    ends = sorted({conf["window_end"] for conf in weekly})
    weeks = range(timeline.FIRST_RUN_WEEK, timeline.LAST_WEEK + 1)
    assert ends == [(timeline.START + timedelta(weeks=index)).isoformat() for index in weeks]


def test_one_rollback_by_hand_is_in_the_timeline_and_every_alias_move_in_the_promotion_log(demo) -> None:
    from include.retraining.common import load_settings
    from include.retraining.tables import history
    from include.retraining.warehouse import Database

    url = load_settings({"RETRAINING_DATA_DIR": str(demo.data)}).warehouse_default_url
    log = list(reversed(history(Database(url), "churn")))
    weeks = demo.summary["weeks"]
    rollbacks = [entry for entry in log if entry.action == "rollback"]
    assert len(rollbacks) == 1, [(e.action, e.to_version) for e in log]
    rollback, week = rollbacks[0], _week(demo.summary, timeline.ROLLBACK_WEEK)
    assert (rollback.actor, rollback.reason) == ("admin", timeline.ROLLBACK_REASON)
    # No to_version given: back to previous_champion, the version the week's promotion replaced.
    assert rollback.to_version == log[log.index(rollback) - 1].from_version
    assert week["champion"] == rollback.to_version and week["rollback"] == f"rolled back to v{rollback.to_version}"
    promoted = sum(str(w.get(k)) == "promoted" for w in weeks for k in ("drift_retrain", "weekly_retrain"))
    assert [entry.action for entry in log].count("promote") == promoted
    assert log[-1].to_version == weeks[-1]["champion"]
    for earlier, later in zip(log, log[1:], strict=False):
        assert later.from_version == earlier.to_version, "each row starts where the previous one left the alias"


def test_the_live_metric_is_what_score_churn_served_with_the_shadow_challenger_beside_it(demo) -> None:
    weeks = [w for w in demo.summary["weeks"] if w["week"] > timeline.FIRST_RUN_WEEK]
    for week in weeks:
        # The matured week was scored in the week before, last by the champion that week ended with.
        assert week["live_version"] == _week(demo.summary, week["week"] - 1)["champion"], week["week"]
        assert 0.5 < week["live"] < 1.0
    shadows = [w for w in weeks if w.get("shadow_version")]
    assert shadows, "a gate-blocked challenger scores in shadow beside the champion"
    assert all(w["shadow_version"] != w["live_version"] for w in shadows)
    with sqlite3.connect(demo.data / "warehouse.db") as db:
        aliases = db.execute("SELECT alias, count(*) FROM churn_predictions GROUP BY alias ORDER BY alias").fetchall()
    assert [alias for alias, _ in aliases] == ["challenger", "champion"]
