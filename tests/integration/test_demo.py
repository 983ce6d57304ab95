"""`make demo`'s timeline, run as `make demo` runs it (its own process, its own scheduler), on a
scratch data folder; the story is asserted on decisions and registry state, not on log text."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from mlflow.tracking import MlflowClient

from demo import timeline
from include.retraining.alerts import Outbox, read_alerts
from include.retraining.warehouse import Database
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


# The story the README tells ("What the demo shows"), on the default gate (99.5%, 4 pooled holdouts).
# Per week: the monitor's trigger task, the drift retrain the scheduler ran, the weekly retrain, what
# a person did, and the champion at the end of the week. Seeded data: any change here is a new story.
WEEKS = {
    4: (None, None, "promoted", None, "1"),
    5: ("skipped", None, "gate blocked", None, "1"),
    6: ("skipped", None, "gate blocked", None, "1"),
    7: ("success", "gate blocked", "same window: no new decision", None, "1"),
    8: ("skipped", None, "gate blocked", None, "1"),
    9: ("success", "promoted", "same window: no new decision", None, "6"),
    10: ("skipped", None, "promoted", "rolled back to v6", "6"),
    11: ("success", "validation blocked", "validation blocked", None, "6"),
    12: ("skipped", None, "promoted", None, "8"),
}
# Per registered version, from the registry itself: the week whose retrain trained it, what
# started that retrain, the gate's decision and the champion it was compared with.
VERSIONS = {
    "1": (4, "weekly", "promote", ""),
    "2": (5, "weekly", "block", "1"),
    "3": (6, "weekly", "block", "1"),
    "4": (7, "drift", "block", "1"),
    "5": (8, "weekly", "block", "1"),
    "6": (9, "drift", "promote", "1"),
    "7": (10, "weekly", "promote", "6"),
    "8": (12, "weekly", "promote", "6"),
}
# The promotion log, oldest first: (action, from, to, actor).
MOVES = [
    ("promote", None, "1", "dag_test"),
    ("promote", "1", "6", "scheduler"),
    ("promote", "6", "7", "dag_test"),
    ("rollback", "7", "6", "admin"),
    ("promote", "6", "8", "dag_test"),
]
# drift_held_back: week 8 (the cooldown after week 7's trigger, champion v1) and week 10 (after
# week 9's, against the new champion v6): once each, though the drift went on.
ALERTS = {
    "gate_blocked": 4,
    "drift_detected": 3,
    "drift_held_back": 2,
    "validation_failed": 2,
    "champion_rolled_back": 1,
}
# The final champion against the first model on the last matured week, and the served figures
# since the pricing change against the first model on the same rows (ROC AUC, 3 decimals).
GAP, SERVED_GAP = 0.038, 0.006


def test_the_weekly_decisions_are_the_story_the_readme_tells(demo) -> None:
    table = {
        w["week"]: (
            (w.get("monitor") or {}).get("trigger"),
            w.get("drift_retrain"),
            w["weekly_retrain"],
            w.get("rollback"),
            w["champion"],
        )
        for w in demo.summary["weeks"]
    }
    assert table == WEEKS


def test_every_version_in_the_registry_was_decided_as_the_story_says(demo) -> None:
    uri = f"sqlite:///{demo.data / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    delay = timedelta(days=7)  # churn.yaml's label_delay_days: a retrain's window ends a week before it runs
    versions = {}
    for version in client.search_model_versions("name = 'churn'"):
        run = client.get_run(version.run_id).data.tags
        ran_at = datetime.fromisoformat(run["retraining.window_end"]) + delay
        trigger = "drift" if run["retraining.trigger"].startswith("drift:") else "weekly"
        compared_with = version.tags["retraining.compared_with_version"]
        versions[str(version.version)] = (
            (ran_at - timeline.START).days // 7,
            trigger,
            run["retraining.gate"],
            compared_with,
        )
    assert versions == VERSIONS
    assert str(client.get_model_version_by_alias("churn", "champion").version) == WEEKS[timeline.LAST_WEEK][-1]


def test_every_alert_kind_is_counted(demo) -> None:
    kinds = Counter(a["kind"] for a in read_alerts(Outbox(Database(f"sqlite:///{demo.data / 'pipeline.db'}"))))
    assert kinds == ALERTS


def test_the_retrained_champion_beats_the_model_left_alone_and_the_picture_is_written(demo) -> None:
    summary = demo.summary
    assert (round(summary["gap"], 3), round(summary["served_gap_after_change"], 3)) == (GAP, SERVED_GAP)
    picture = demo.data / "demo" / "timeline.png"
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

    url = load_settings({"RETRAINING_DATA_DIR": str(demo.data)}).pipeline_default_url
    log = list(reversed(history(Database(url), "churn")))
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in log] == MOVES
    (rollback,) = [entry for entry in log if entry.action == "rollback"]
    assert rollback.reason == timeline.ROLLBACK_REASON
    assert WEEKS[timeline.ROLLBACK_WEEK][3] == f"rolled back to v{rollback.to_version}"


def test_the_live_metric_is_what_score_churn_served_with_the_shadow_challenger_beside_it(demo) -> None:
    weeks = [w for w in demo.summary["weeks"] if w["week"] > timeline.FIRST_RUN_WEEK]
    for week in weeks:
        # The matured week was scored in the week before, last by the champion that week ended with.
        assert week["live_version"] == _week(demo.summary, week["week"] - 1)["champion"], week["week"]
        assert 0.5 < week["live"] < 1.0
    shadows = [w for w in weeks if w.get("shadow_version")]
    assert shadows, "a gate-blocked challenger scores in shadow beside the champion"
    assert all(w["shadow_version"] != w["live_version"] for w in shadows)
    with sqlite3.connect(demo.data / "pipeline.db") as db:
        aliases = db.execute("SELECT alias, count(*) FROM churn_predictions GROUP BY alias ORDER BY alias").fetchall()
    assert [alias for alias, _ in aliases] == ["challenger", "champion"]


def test_the_quarters_report_is_its_backtest_which_replays_every_week_of_the_dag_runs(demo) -> None:
    """The backtest of the same weeks (isolated: the registry, promotion log and outbox assertions
    above hold after it), given the on-call's rollback (--rollback) and the warehouse as it was
    before the reload (--source-before), writes the report; its decisions are the DAG runs' week for
    week, and so is the served metric of each week's rows, to 3 decimals."""
    backtest = demo.summary["backtest"]
    folder = demo.data / "demo" / "backtest"
    assert Path(backtest["folder"]) == folder
    report = (folder / "report.html").read_text()
    assert (
        "<h1>Backtest of churn</h1>" in report
        and "rollback by hand 2026-03-16 03:00: rolled back v7 -&gt; v6" in report
    )
    assert (folder / "timeline.png").stat().st_size > 10_000
    assert json.loads((folder / "summary.json").read_text()) == backtest["summary"]
    assert backtest["summary"]["windows"] == timeline.LAST_WEEK - timeline.FIRST_RUN_WEEK + 1
    assert [w["week"] for w in backtest["weeks"] if w["same"]] == list(
        range(timeline.FIRST_RUN_WEEK, timeline.LAST_WEEK + 1)
    )
    assert backtest["same"] and "differs_from_week" not in backtest
    summary = backtest["summary"]
    promoted = sum(1 for action, *_ in MOVES if action == "promote")
    blocked = sum(1 for _, trigger, gate, _ in VERSIONS.values() if gate == "block")
    assert (summary["promotions"], summary["blocked"], summary["rollbacks"]) == (promoted, blocked, 1)
    # Every week whose labels matured within the demo: the last week's mature after it.
    assert backtest["served_weeks"] == timeline.LAST_WEEK - timeline.FIRST_RUN_WEEK
    assert backtest["served_same"], [w["served"] for w in backtest["weeks"]]


def test_the_backtest_logged_the_replayed_rollback_in_its_own_promotion_log(demo) -> None:
    from include.retraining.backtest import HAND_ACTOR
    from include.retraining.tables import history
    from include.retraining.warehouse import Database

    log = list(
        reversed(history(Database(f"sqlite:///{demo.data / 'demo' / 'backtest' / 'pipeline.db'}"), "churn__backtest"))
    )
    moves = [(e.action, e.from_version, e.to_version) for e in log]
    assert moves == [(action, before, after) for action, before, after, _ in MOVES]
    (rollback,) = [e for e in log if e.action == "rollback"]
    assert (rollback.actor, rollback.reason) == (HAND_ACTOR, timeline.ROLLBACK_REASON)
