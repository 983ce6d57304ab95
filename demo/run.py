"""`make demo`: a simulated quarter (13 weeks) in which the system keeps a churn model honest.

Starts from a clean `.data/`, then plays the timeline in demo/timeline.py week by week
through real Airflow DAG runs of the DAG code users deploy:
- the weekly `monitor_churn` and `retrain_churn` runs for each simulated week run in this process
  (`dag.test`), on the embedded SQLite metadata database. Simulated time reaches them as a user's
  backfill of a past window would: the `window_end` param, on runs whose logical date is the real
  clock's, so the Airflow UI shows real run dates and durations;
- a real scheduler, dag-processor and api-server run alongside (LocalExecutor): when a monitoring
  run emits an event on the drift asset, the scheduler creates the asset-triggered retrain and
  runs it, as in production (the event carries the monitored window's end). The demo never starts
  a retrain because of a drift decision.
Then the backtest replays the same weeks in its own namespace (demo/backtest.py): its report.html
and timeline.png are the quarter's report, its decisions printed beside the DAG runs'.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from demo import timeline

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RETRAINING_DATA_DIR", REPO / ".data")).resolve()
DEMO = DATA / "demo"
PYCACHE = DATA / "pycache"
# In the demo, the runner plays the weekly schedule (simulated windows through `window_end`); a
# cron on the real clock would add runs of its own. This one fires on the next leap day after the
# demo DAGs' start date (the day the demo runs, set in _fresh_start); from the default start date
# in 2000 the scheduler would run the last leap day as soon as retrain_churn is unpaused, and that
# run would block the monitor.
DEMO_CRON = "0 3 29 2 *"
# score_churn scores one simulated week per run: its grid is the weeks' (Monday 03:00 UTC). It stays
# paused, so this cron never fires on the real clock and the champion asset starts no run of it;
# the runner scores each week, and again after each move of the champion, as those would.
SCORING_CRON = f"{timeline.START.minute} {timeline.START.hour} * * {timeline.START.isoweekday() % 7}"
SCORE_DAG, ROLLBACK_DAG = "score_churn", "rollback_churn"
# The warehouse as it was before the broken week was reloaded, kept as a team's backup or its
# warehouse's time travel would keep it: the backtest reads it for the runs before the reload.
BEFORE_RELOAD = DEMO / "warehouse_before_reload.db"


TERMINAL = sys.stdout


def say(text: str) -> None:
    print(f"[demo] {text}", file=TERMINAL, flush=True)


def _logs_to_file() -> None:
    """Everything Airflow, MLflow and the libraries print (through fds 1 and 2, whatever stream
    object they hold) goes to .data/demo/runs.log; the story goes to a duplicate of the terminal."""
    global TERMINAL
    TERMINAL = os.fdopen(os.dup(1), "w", buffering=1)
    log = (DEMO / "runs.log").open("ab")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)


def _models_dir() -> Path:
    """The shipped churn.yaml, with the real-clock crons replaced (see DEMO_CRON, SCORING_CRON)."""
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["schedule"] = DEMO_CRON
    config["monitor"]["schedule"] = DEMO_CRON
    if config.get("scoring") is not None:
        config["scoring"]["schedule"] = SCORING_CRON
    folder = DEMO / "models"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "churn.yaml").write_text(
        "# Written by `make demo` from include/models/churn.yaml; only the schedules differ.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return folder


def _stack():
    from tools.native_stack import NativeStack

    return NativeStack(
        home=DATA,
        metadata_url=f"sqlite:///{DATA / 'airflow' / 'airflow.db'}",
        executor="LocalExecutor",
        with_triggerer=False,
        extra_env={
            "RETRAINING_DATA_DIR": str(DATA),
            "RETRAINING_MODELS_DIR": str(DEMO / "models"),
            "RETRAINING_TASK_RETRIES": "0",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # The in-process runs need both cores; the dag-processor only has to parse once.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
            "AIRFLOW__CORE__PARALLELISM": "2",
        },
    )


def _bytecode_cache() -> None:
    """With bytecode writing off (PYTHONDONTWRITEBYTECODE, common on servers and in images) and no
    bytecode in the virtualenv, every process the demo starts (the scheduler, the dag-processor,
    the api-server, each task of a scheduled run) would compile Airflow, MLflow, scikit-learn and
    GX again: about 5 s of CPU each on a 2-core machine. They share one cache in .data/pycache
    instead, kept from one demo to the next. With bytecode writing on, nothing changes."""
    if not sys.dont_write_bytecode:
        return
    PYCACHE.mkdir(parents=True, exist_ok=True)
    sys.pycache_prefix = str(PYCACHE)
    sys.dont_write_bytecode = False
    os.environ["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _fresh_start() -> Any:
    """A clean .data/ (the bytecode cache excepted: it holds no state) and the demo's settings."""
    for entry in DATA.iterdir() if DATA.exists() else ():
        if entry.is_dir() and entry != PYCACHE:
            shutil.rmtree(entry)
        elif entry.is_file():
            entry.unlink()
    DEMO.mkdir(parents=True)
    _bytecode_cache()
    _models_dir()
    os.environ["RETRAINING_DAG_START_DATE"] = datetime.now(UTC).date().isoformat()
    stack = _stack()
    os.environ.update({k: v for k, v in stack.env().items() if k not in ("PYTHONPATH",)})
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)
    return stack


class Airflow:
    """The in-process side: DAG runs for simulated windows, pause flags, asset-triggered runs."""

    def __init__(self) -> None:
        from airflow.dag_processing.dagbag import DagBag

        self.dags = DagBag(dag_folder=str(REPO / "dags")).dags

    def run(self, dag_id: str, window_end: datetime) -> dict[str, str]:
        """A manual run now (real logical date, start and end) over the window ending `window_end`."""
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session

        run = self.dags[dag_id].test(run_conf={"window_end": window_end.isoformat()})
        with create_session() as session:
            tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id)
            return {ti.task_id: str(ti.state) for ti in tis}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session

        with create_session() as session:
            session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": paused})

    def drift_event_count(self) -> int:
        from airflow.models.asset import AssetEvent, AssetModel
        from airflow.utils.session import create_session

        with create_session() as session:
            return (
                session.query(AssetEvent)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.name == "churn_drift")
                .count()
            )

    def wait_for_asset_triggered_retrain(self, seen: set[str], timeout_s: float = 240) -> tuple[str, dict[str, str]]:
        """The scheduler's asset-triggered retrain_churn run, once finished, and its task states."""
        from airflow.models import DagRun, TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.types import DagRunType

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with create_session() as session:
                runs = session.query(DagRun).filter(
                    DagRun.dag_id == "retrain_churn", DagRun.run_type == DagRunType.ASSET_TRIGGERED
                )
                for run in runs:
                    if run.run_id not in seen and str(run.state) in ("success", "failed"):
                        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id)
                        return run.run_id, {ti.task_id: str(ti.state) for ti in tis}
            time.sleep(1)
        raise TimeoutError(f"no asset-triggered retrain_churn run finished within {timeout_s:.0f}s")


def _load(week: timeline.Week) -> int:
    from demo.churn_data import TABLE, generate_snapshots, load_window
    from include.retraining.common import load_settings

    frame = generate_snapshots(timeline.ROWS_PER_WEEK, week.start, week.end, seed=timeline.SEED, world=week.world)
    return load_window(load_settings().warehouse_default_url, TABLE, frame, week.start, week.end)


def _outcome(states: dict[str, str]) -> str:
    if states.get("promote") == "success":
        return "promoted"
    if states.get("validate") == "failed":
        return "validation blocked"
    if states.get("extract") == "failed":
        return "stopped at extract"
    if states.get("promote") == "skipped":
        return "gate blocked"
    return "failed: " + ", ".join(f"{k}={v}" for k, v in states.items() if v != "success")


def _champion_version() -> str | None:
    from include.retraining.common import load_settings
    from include.retraining.tracking import Registry, Tracker

    champion = Registry(Tracker(load_settings(), trusted_types=()), "churn").champion()
    return champion.version if champion else None


def play(airflow: Airflow, stack: Any) -> list[dict[str, Any]]:
    """Play the timeline; one row per simulated week for the summary."""
    rows: list[dict[str, Any]] = []
    seen_triggered: set[str] = set()
    for index in range(timeline.HISTORY_WEEKS):
        _load(timeline.week(index))
    say(f"warehouse: {timeline.HISTORY_WEEKS} weeks of history x {timeline.ROWS_PER_WEEK} customer snapshots")
    for index in range(timeline.FIRST_RUN_WEEK, timeline.LAST_WEEK + 1):
        week_started = time.monotonic()
        row = _arrive(index)
        before = _champion_version()
        if before is not None:
            _score(airflow, row, "score")
            _monitor(airflow, row, seen_triggered)
        weekly = airflow.run("retrain_churn", row["date"])
        row["ran"].append("weekly retrain")
        row["weekly_retrain"] = (
            _outcome(weekly)
            if weekly.get("promote") != "skipped" or "drift_retrain" not in row
            else "same window: no new decision"
        )
        if index == timeline.ROLLBACK_WEEK and ROLLBACK_DAG in airflow.dags:
            _rollback(stack, row)
        row["champion"] = _champion_version()
        if row["champion"] != before:
            _score(airflow, row, "rescore")
        row["seconds"] = time.monotonic() - week_started
        rows.append(row)
        say(_progress(row))
    return rows


def _arrive(index: int) -> dict[str, Any]:
    """Load the week's data into the warehouse; the week's row, before anything ran."""
    at = timeline.START + timedelta(weeks=index)
    arrived = timeline.week(index - 1)
    loaded = _load(arrived) if index - 1 >= timeline.HISTORY_WEEKS else 0
    row: dict[str, Any] = {"week": index, "date": at, "rows": loaded, "event": arrived.event, "ran": []}
    if index == timeline.REPAIRED_AT_WEEK:
        _keep_a_copy(BEFORE_RELOAD)
        _load(timeline.repaired(timeline.BROKEN_LOAD_WEEK))
        row["event"] = (row["event"] + "; " if row["event"] else "") + timeline.repaired(0).event
    return row


def _keep_a_copy(path: Path) -> None:
    """The demo's SQLite warehouse as it is now, copied to `path` (SQLite's online backup)."""
    import sqlite3
    from contextlib import closing

    from include.retraining.common import load_settings

    url = load_settings().warehouse_default_url
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)


def _score(airflow: Airflow, row: dict[str, Any], what: str) -> None:
    """score_churn over the simulated week that ends at the row's date, with the champion of now
    (and the challenger in shadow): the weekly run, or the run a move of the champion starts."""
    if SCORE_DAG not in airflow.dags:
        return
    states = airflow.run(SCORE_DAG, row["date"])
    row["ran"].append(what)
    if states.get("score") != "success":
        raise RuntimeError(f"{SCORE_DAG} for the week ending {row['date']:%Y-%m-%d}: {states}; see the runs log")


def _monitor(airflow: Airflow, row: dict[str, Any], seen_triggered: set[str]) -> None:
    """monitor_churn over the week; a drift event it emits, the scheduler turns into a retrain."""
    # The drift event queues a retrain only for an unpaused consumer; the scheduler runs it.
    airflow.set_paused("retrain_churn", False)
    events_before = airflow.drift_event_count()
    row["monitor"] = airflow.run("monitor_churn", row["date"])
    row["ran"].append("monitor")
    if airflow.drift_event_count() > events_before:
        run_id, states = airflow.wait_for_asset_triggered_retrain(seen_triggered)
        seen_triggered.add(run_id)
        row["ran"].append("drift retrain")
        row["drift_retrain"] = _outcome(states)
    airflow.set_paused("retrain_churn", True)


def _rollback(stack: Any, row: dict[str, Any]) -> None:
    """A person rolls the champion back from the Trigger form of rollback_churn: a manual run
    through the REST API as the demo's admin user, run by the scheduler."""
    run_id = stack.trigger(ROLLBACK_DAG, conf={"reason": timeline.ROLLBACK_REASON})
    run = stack.wait_for_run(ROLLBACK_DAG, run_id, timeout_s=240)
    row["ran"].append("rollback")
    if run["state"] != "success":
        raise RuntimeError(f"{ROLLBACK_DAG} run {run_id} ended {run['state']}; see the runs log")
    row["rollback"] = f"rolled back to v{_champion_version()}"


def _progress(row: dict[str, Any]) -> str:
    parts = [f"week {row['week']:2d} {row['date']:%Y-%m-%d}"]
    if row["event"]:
        parts.append(f"[{row['event']}]")
    if "monitor" in row:
        trigger = row["monitor"].get("trigger")
        parts.append("monitor: drift -> event" if trigger == "success" else "monitor: no retrain")
    if "drift_retrain" in row:
        parts.append(f"drift retrain (scheduler): {row['drift_retrain']}")
    parts.append(f"weekly retrain: {row['weekly_retrain']}")
    if "rollback" in row:
        parts.append(f"by hand: {row['rollback']}")
    parts.append(f"champion v{row['champion']} ({row['seconds']:.0f}s)")
    return " | ".join(parts)


def main() -> None:
    warnings.filterwarnings("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"
    started = time.monotonic()
    stack = _fresh_start()
    _logs_to_file()
    say(f"fresh embedded default in {DATA}; task logs in {DEMO / 'runs.log'}")
    logging.getLogger("airflow").setLevel(logging.WARNING)
    stack.start(timeout_s=180)
    try:
        airflow = Airflow()
        stack.wait_for_dags(sorted(airflow.dags))
        say(f"scheduler, dag-processor and api-server up (LocalExecutor) in {time.monotonic() - started:.0f}s")
        for dag_id in ("monitor_churn", "retrain_churn"):
            airflow.set_paused(dag_id, True)
        # Manual only (no schedule): unpaused, a run triggered from the UI or the API starts at once.
        airflow.set_paused(ROLLBACK_DAG, False)
        rows = play(airflow, stack)
    finally:
        stack.stop()
    from demo.backtest import compare, replay_quarter
    from demo.report import summarize

    replay_started = time.monotonic()
    say(f"the backtest of the same weeks, isolated in {DEMO / 'backtest'}:")
    replayed = replay_quarter(DEMO / "backtest", BEFORE_RELOAD, lambda line: say(f"  {line}"))
    say(f"backtest done in {time.monotonic() - replay_started:.0f}s")
    summarize(rows, DEMO, started, TERMINAL, compare(rows, DEMO / "backtest", replayed))


if __name__ == "__main__":
    main()
