"""`make demo`: the retraining pipeline end to end on the embedded default.

Starts from a clean `.data/`, writes a simulated churn warehouse, and drives real Airflow DAG
runs of `retrain_churn` (the DAG code users deploy) for simulated dates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RETRAINING_DATA_DIR", REPO / ".data"))
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
ROWS_PER_WEEK = 1500
SEED = 7


def _environment() -> None:
    """The embedded default, set before Airflow is imported (it reads its config once)."""
    defaults = {
        "AIRFLOW_HOME": str(DATA / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "RETRAINING_TASK_RETRIES": "0",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.environ["RETRAINING_DATA_DIR"] = str(DATA)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _fresh_start() -> None:
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def _load_weeks(weeks: int) -> None:
    from include.demo.churn_data import TABLE, generate_snapshots
    from include.retraining.settings import load_settings
    from include.retraining.warehouse import replace_window

    url = load_settings().warehouse_default_url
    for week in range(weeks):
        begin = START + timedelta(weeks=week)
        frame = generate_snapshots(ROWS_PER_WEEK, begin, begin + timedelta(weeks=1), seed=SEED)
        replace_window(url, TABLE, frame, "snapshot_at", begin, begin + timedelta(weeks=1))


def _run(dag_id: str, logical_date: datetime) -> dict[str, str]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    dag = DagBag(dag_folder=str(REPO / "dags")).dags[dag_id]
    run = dag.test(logical_date=logical_date)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id)
        return {ti.task_id: str(ti.state) for ti in tis}


def main() -> None:
    _environment()
    started = time.monotonic()
    _say(f"fresh embedded default in {DATA}")
    _fresh_start()
    _load_weeks(10)
    _say(f"warehouse: 10 weeks x {ROWS_PER_WEEK} customer snapshots from {START:%Y-%m-%d}")

    from include.retraining.alerts import read_alerts
    from include.retraining.registry import aliases, configure
    from include.retraining.settings import load_settings

    settings = load_settings()
    for week in (10, 11):
        run_at = START + timedelta(weeks=week)
        if week == 11:
            _load_weeks(11)
        states = _run("retrain_churn", run_at)
        _say(f"retrain_churn for {run_at:%Y-%m-%d}: {states}; aliases {aliases(configure(settings), 'churn')}")

    _say(f"done in {time.monotonic() - started:.0f}s. Where to look:")
    print(f"  MLflow store      {settings.tracking_uri}   (UI: make mlflow -> http://localhost:5000)")
    print(f"  artifacts         {settings.artifact_root}")
    print(f"  alerts            {settings.alerts_file} ({len(read_alerts(settings.alerts_file))} alert(s))")
    print("  Airflow UI        make airflow -> http://localhost:8080 (the demo's runs are in its metadata DB)")


if __name__ == "__main__":
    main()
