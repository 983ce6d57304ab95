"""OpenLineage through Airflow's provider: a retrain and a score run, with the provider's file
transport configured, report the source table, the snapshot, the model the run logged, the
registered version (with its reference profile) and the predictions table.

The DAGs run in a process of their own: the provider registers its listener when Airflow loads
plugins, once per process, and only when a transport is configured then."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from demo.churn_data import TABLE
from tests.support import REPO, load_weeks

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, tzinfo=UTC)
TRAINED_AT = datetime(2026, 3, 16, 3, tzinfo=UTC)
SCORED_AT = datetime(2026, 3, 16, 4, tzinfo=UTC)
RUNS = (
    "import json, sys; from datetime import datetime; from tests.support import run_dag; "
    "runs = [(d, datetime.fromisoformat(at)) for d, at in zip(sys.argv[1::2], sys.argv[2::2])]; "
    "print('STATES=' + json.dumps({d: run_dag(d, at) for d, at in runs}))"
)


def _run(runs: list[tuple[str, datetime]], events: Path) -> dict[str, dict[str, str]]:
    """The DAG runs, one after the other in one process with the file transport; their task states."""
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    env = os.environ | {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}
    argv = [part for dag_id, at in runs for part in (dag_id, at.isoformat())]
    done = subprocess.run([sys.executable, "-c", RUNS, *argv], cwd=REPO, env=env, capture_output=True, text=True)
    states = [line for line in done.stdout.splitlines() if line.startswith("STATES=")]
    assert done.returncode == 0 and states, done.stderr[-3000:]
    return json.loads(states[-1].removeprefix("STATES="))


def _completed(events: Path) -> dict[str, dict]:
    """The COMPLETE event of each task, by task id."""
    found = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]:
            found[event["job"]["name"].split(".", 1)[1]] = event
    return found


def _names(datasets: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_a_retrain_and_a_score_report_what_they_read_and_wrote(
    postgres_warehouse: str, models_dir, tmp_path: Path
) -> None:
    load_weeks(START, weeks=6)
    events = tmp_path / "openlineage.jsonl"

    states = _run([("retrain_churn", TRAINED_AT), ("score_churn", SCORED_AT)], events)
    retrain, score = states["retrain_churn"], states["score_churn"]

    assert retrain["promote"] == "success" and set(score.values()) == {"success"}, (retrain, score)
    tasks = _completed(events)
    url = make_url(postgres_warehouse)
    warehouse = f"postgres://{url.host}:{url.port or 5432}"
    source = (warehouse, f"{url.database}.public.{TABLE}")
    extract, train, promote, scored = (tasks[t] for t in ("extract", "train", "promote", "score"))

    assert _names(extract["inputs"]) == [source]
    fields = {f["name"] for f in extract["inputs"][0]["facets"]["schema"]["fields"]}
    assert {"customer_id", "snapshot_at", "churned", "tenure_months"} <= fields
    (snapshot,) = _names(extract["outputs"])
    assert snapshot[0] == "file" and snapshot[1].endswith(".parquet") and Path(snapshot[1]).is_file()
    assert _names(train["inputs"]) == [snapshot]
    ((store, logged),) = _names(train["outputs"])
    assert store.startswith("mlflow://") and logged.startswith("runs/") and logged.endswith("/model")
    assert _names(promote["inputs"]) == [(store, logged)]
    (version,) = promote["outputs"]
    assert (version["namespace"], version["name"]) == (store, "churn/versions/1")
    profile = version["facets"]["retrainingReferenceProfile"]
    assert profile["rows"] > 0 and "tenure_months" in profile["columns"]
    assert _names(scored["inputs"]) == [source, (store, "churn/versions/1")]
    assert _names(scored["outputs"]) == [(warehouse, f"{url.database}.public.churn_predictions")]
