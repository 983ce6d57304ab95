"""The demo's report of its quarter, by the backtest: after the real DAG runs,
`python -m retraining backtest` (docs/backtest.md) replays the same weeks of the demo's
warehouse in its isolated namespace under .data/demo/backtest/ (its own MLflow store, tables and
artifacts: the demo's registry, promotion log and outbox are only read). Its `report.html` and
`timeline.png` are the quarter's report: the configured policy against the first model left alone
and a retrain promoted every week. Its decisions are printed beside the ones the DAG runs made,
week by week, with where they differ and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

from demo import timeline
from include.retraining.backtest import journal_windows

REPO = Path(__file__).resolve().parents[1]
# The monitor at each window's end, as the demo runs it; the demo's own model file has leap-day
# crons (demo/run.py, DEMO_CRON), so the replay reads the shipped one, whose weekly schedule it is,
# with the scoring schedule score_churn ran on in the demo (week by week: demo/run.py, SCORING_CRON).
MONITOR_CRON = f"{timeline.START.minute} {timeline.START.hour} * * {timeline.START.isoweekday() % 7}"
MODEL_FILE = REPO / "include" / "models" / "churn.yaml"
ROLLBACK_AT = timeline.START + timedelta(weeks=timeline.ROLLBACK_WEEK)
RELOADED_AT = timeline.START + timedelta(weeks=timeline.REPAIRED_AT_WEEK)
GIVEN = (
    f"given the rollback by hand of week {timeline.ROLLBACK_WEEK} (--rollback) and, for the runs before week "
    f"{timeline.REPAIRED_AT_WEEK}, the warehouse as it was before the broken week was reloaded (--source-before)"
)


def week_of(at: datetime) -> int:
    return (at - timeline.START) // timedelta(weeks=1)


def replay_quarter(out: Path, before_reload: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """`python -m retraining backtest` of the demo's weeks on the demo's data folder, in a process
    of its own as a user runs it (MLflow's tracking URI is process-wide: the demo's own figures
    must keep reading the demo's store), with the on-call's rollback and the warehouse's copy
    `before_reload`; its progress lines through `say`, its summary returned."""
    first = timeline.START + timedelta(weeks=timeline.FIRST_RUN_WEEK)
    last = timeline.START + timedelta(weeks=timeline.LAST_WEEK)
    command = [
        sys.executable, "-m", "retraining", "backtest", "churn",
        "--start", (first - timedelta(days=1)).isoformat(), "--end", last.isoformat(),
        "--monitor-cron", MONITOR_CRON, "--out", str(out),
        "--rollback", f"{ROLLBACK_AT.isoformat()}={timeline.ROLLBACK_REASON}",
        "--source-before", f"{RELOADED_AT.isoformat()}=sqlite:///{before_reload}",
    ]  # fmt: skip
    env = {**os.environ, "RETRAINING_MODELS_DIR": str(_models_dir(out.parent)), "PYTHONPATH": str(REPO)}
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=PIPE, stderr=PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        lines = []
        for line in process.stderr:  # the summary on stdout is a few kB: no pipe fills while this reads
            lines.append(line.rstrip())
            say(lines[-1])
        summary = process.stdout.read()
    if process.returncode != 0:
        raise RuntimeError(f"the demo's backtest failed ({' '.join(command)}):\n" + "\n".join(lines[-30:]))
    return json.loads(summary)


def _models_dir(folder: Path) -> Path:
    """The shipped churn.yaml with the scoring schedule the demo's score_churn ran on."""
    import yaml

    from demo.run import SCORING_CRON

    config = yaml.safe_load(MODEL_FILE.read_text())
    config["scoring"]["schedule"] = SCORING_CRON
    models = folder / "backtest_models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "churn.yaml").write_text(
        f"# Written by `make demo` from {MODEL_FILE.relative_to(REPO)}: scoring.schedule is the demo's.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return models


def replayed_weeks(out: Path) -> dict[int, tuple]:
    """Per demo week, the backtest's decisions as the demo's table words them: (drift trigger,
    drift retrain, weekly retrain, rollback by hand, champion)."""
    weeks = {}
    for window in journal_windows(out):
        runs = window["runs"]
        monitor = next((r for r in runs if r["kind"] == "monitor"), {})
        drift = next((r for r in runs if r["kind"] == "retrain" and r["trigger"] == "drift"), None)
        weekly = next(r for r in runs if r["kind"] == "retrain" and r["trigger"] == "schedule")
        weekly_word = "same window: no new decision" if drift and weekly.get("reused") else _word(weekly["outcome"])
        hand = next((r for r in runs if r["kind"] == "rollback"), None)
        weeks[week_of(datetime.fromisoformat(window["end"]))] = (
            bool(monitor.get("trigger")),
            _word(drift["outcome"]) if drift else None,
            weekly_word,
            (f"rolled back to v{hand['version']}" if hand.get("version") else hand["outcome"]) if hand else None,
            window["champion"],
        )
    return weeks


def demo_weeks(rows: list[dict[str, Any]]) -> dict[int, tuple]:
    """The same for the DAG runs the demo made."""
    return {
        row["week"]: (
            (row.get("monitor") or {}).get("trigger") == "success",
            row.get("drift_retrain"),
            row["weekly_retrain"],
            row.get("rollback"),
            row["champion"],
        )
        for row in rows
    }


_WORDS = {
    "promoted": "promoted",
    "repaired": "promoted",
    "blocked": "gate blocked",
    "validation_failed": "validation blocked",
    "stopped": "stopped at extract",
}


def _word(outcome: str) -> str:
    return _WORDS.get(outcome, outcome)


def compare(rows: list[dict[str, Any]], out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The two side by side, per week, and the backtest's figures: what the demo's summary keeps."""
    ran, replayed = demo_weeks(rows), replayed_weeks(out)
    weeks = [
        {
            "week": week,
            "demo": list(ran[week]),
            "backtest": list(replayed.get(week, ())),
            "same": ran[week] == replayed.get(week),
        }
        for week in sorted(ran)
    ]
    return {
        "folder": str(out),
        "report": str(out / "report.html"),
        "timeline": str(out / "timeline.png"),
        "summary": summary,
        "weeks": weeks,
        "same": all(w["same"] for w in weeks),
        "given": GIVEN,
    }


def compare_served(rows: list[dict[str, Any]], backtest: dict[str, Any]) -> None:
    """Beside each week's decisions, the served metric of that week's rows, 3 decimals: what
    score_churn served in the demo (read by its summary a week later, when the labels matured: the
    row of the next week, demo/report.py) and the backtest's served figure of the same window."""
    served = {row["week"] - 1: row["live"] for row in rows if row.get("live_source") == "served"}
    replayed = {
        week_of(datetime.fromisoformat(w["end"])): w["metric_policy"] for w in journal_windows(Path(backtest["folder"]))
    }
    for week in backtest["weeks"]:
        week["served"] = [_3(served.get(week["week"])), _3(replayed.get(week["week"]))]
    known = [w["served"] for w in backtest["weeks"] if None not in w["served"]]
    backtest["served_weeks"] = len(known)
    backtest["served_same"] = all(ran == replay for ran, replay in known)


def _3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def print_comparison(backtest: dict[str, Any], terminal: Any) -> None:
    print(
        "\nThe backtest of the same weeks (python -m retraining backtest, isolated), beside the DAG runs:",
        file=terminal,
    )
    print(
        f"  {'week':>4}  {'the DAG runs (drift, drift retrain, weekly retrain, by hand, champion)':72} the backtest",
        file=terminal,
    )
    for week in backtest["weeks"]:
        mark = "" if week["same"] else "   <- differs"
        print(f"  {week['week']:>4}  {_row(week['demo']):72} {_row(week['backtest'])}{mark}", file=terminal)
    print(
        f"\n  served {backtest['summary']['metric']} of each week's rows (3 decimals), the DAG runs | the backtest:",
        file=terminal,
    )
    for week in backtest["weeks"]:
        ran, replay = (_fmt(v) for v in week.get("served", (None, None)))
        mark = (
            "   (labels matured after the demo's last week)" if ran == "-" else "" if ran == replay else "   <- differs"
        )
        print(f"  {week['week']:>4}  {ran:>6} | {replay:>6}{mark}", file=terminal)
    print(f"  ({backtest['given']})", file=terminal)
    policies = backtest["summary"]["policies"]
    figures = ", ".join(
        f"{name} {p['mean_metric']:.3f} ({p['retrains']} retrain{'' if p['retrains'] == 1 else 's'})"
        for name, p in policies.items()
        if p["mean_metric"]
    )
    print(f"  mean served {backtest['summary']['metric']}: {figures}", file=terminal)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _row(decisions: list[Any]) -> str:
    if not decisions:
        return "-"
    drift, drift_retrain, weekly, hand, champion = decisions
    parts = ["drift" if drift else "no drift", drift_retrain or "-", weekly, hand or "-", f"v{champion}"]
    return "; ".join(str(p) for p in parts)
