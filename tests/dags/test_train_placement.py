"""Where `train` runs: RETRAINING_TRAIN_QUEUE / _EXECUTOR / _POD_TEMPLATE reach that task alone,
unset they leave it where every task runs, and parsing with them set imports no heavy library and
no Kubernetes client (docs/kubernetes.md, "The train task")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.test_dag_integrity import HEAVY

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = "/opt/airflow/pod_templates/train.yaml"
PLACEMENT = {
    "RETRAINING_TRAIN_QUEUE": "bigmem",
    "RETRAINING_TRAIN_EXECUTOR": "KubernetesExecutor",
    "RETRAINING_TRAIN_POD_TEMPLATE": TEMPLATE,
}
# Parse dags/retrain.py in a fresh interpreter, as the dag-processor does (the executors a task may
# name are read from the configuration once per process); report each task's placement and which
# heavy modules the parse imported.
_PARSE_IN_CHILD = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

watched = json.loads(sys.argv[1])
before = {name for name in watched if name in sys.modules}
bag = DagBag(dag_folder="dags/retrain.py")
dag = bag.dags.get("retrain_churn")
print(json.dumps({
    "import_errors": list(bag.import_errors.values()),
    "imported": sorted({name for name in watched if name in sys.modules} - before),
    "tasks": {} if dag is None else {
        t.task_id: {"queue": t.queue, "executor": t.executor, "executor_config": t.executor_config}
        for t in dag.tasks
    },
}))
"""


def _parse_retrain(environment: dict[str, str]) -> dict:
    watched = [*HEAVY, "kubernetes"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAINING_TRAIN_")} | environment
    command = [sys.executable, "-c", _PARSE_IN_CHILD, json.dumps(watched)]
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_setting_reaches_train_alone_and_parsing_stays_light() -> None:
    # The executor a task names must be one Airflow runs: as in deploy/helm/values.yaml, Celery by
    # default and Kubernetes beside it.
    parsed = _parse_retrain({**PLACEMENT, "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor,KubernetesExecutor"})

    assert parsed["import_errors"] == []
    train = parsed["tasks"].pop("train")
    assert train == {
        "queue": "bigmem",
        "executor": "KubernetesExecutor",
        "executor_config": {"pod_template_file": TEMPLATE},
    }
    assert parsed["tasks"] and {t["queue"] for t in parsed["tasks"].values()} == {"default"}
    assert {t["executor"] for t in parsed["tasks"].values()} == {None}
    assert parsed["imported"] == [], "the placement is plain strings: import nothing heavy while parsing"


def test_an_executor_airflow_does_not_run_is_an_import_error_naming_it() -> None:
    parsed = _parse_retrain(
        {"RETRAINING_TRAIN_EXECUTOR": "KubernetesExecutor", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    )

    assert parsed["tasks"] == {}
    assert any("'KubernetesExecutor', which is not available" in error for error in parsed["import_errors"])


def test_unset_leaves_train_where_every_task_runs(monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    for name in PLACEMENT:
        monkeypatch.delenv(name, raising=False)

    dag = DagBag(dag_folder=str(REPO / "dags" / "retrain.py")).dags["retrain_churn"]

    train, extract = dag.get_task("train"), dag.get_task("extract")
    assert (train.queue, train.executor, train.executor_config) == (extract.queue, None, {})
    assert train.queue == "default"


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"RETRAINING_TRAIN_POD_TEMPLATE": TEMPLATE}, "RETRAINING_TRAIN_EXECUTOR"),
        (
            {"RETRAINING_TRAIN_EXECUTOR": "KubernetesExecutor", "RETRAINING_TRAIN_POD_TEMPLATE": "train.yaml"},
            "absolute path",
        ),
    ],
)
def test_a_pod_template_no_executor_would_read_is_refused(monkeypatch, environment, named) -> None:
    from include.orchestration.dagfiles import train_task_placement

    for name in PLACEMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=named) as error:
        train_task_placement()

    assert "RETRAINING_TRAIN_POD_TEMPLATE" in str(error.value) and "docs/kubernetes.md" in str(error.value)


def test_a_queue_alone_routes_train_to_big_memory_celery_workers(monkeypatch) -> None:
    from include.orchestration.dagfiles import train_task_placement

    for name in PLACEMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RETRAINING_TRAIN_QUEUE", " bigmem ")

    assert train_task_placement() == {"queue": "bigmem"}
