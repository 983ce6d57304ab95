"""DAG integrity and policy: every file imports, every model file gives its DAGs, every DAG
follows the house rules, a bad model file is named in an import error, and parsing imports no
heavy library. (How long parsing takes is measured by `make bench-parse`, not asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from include.retraining.config import discover_model_files

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "include" / "models"
HEAVY = (
    "pandas",
    "numpy",
    "sklearn",
    "mlflow",
    "pyarrow",
    "evidently",
    "great_expectations",
    "scipy",
    "matplotlib",
)
# Parse each file of a DAG folder with a DagBag in one fresh interpreter, as the dag-processor
# does; report which heavy libraries each file's parse imported first, the DAGs and any errors.
_PARSE_IN_CHILD = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag

heavy = json.loads(sys.argv[2])
seen = {name for name in heavy if name in sys.modules}
result = {"before_parsing": sorted(seen), "files": {}, "dag_ids": [], "import_errors": {}}
for path in sorted(Path(sys.argv[1]).glob("*.py")):
    bag = DagBag(dag_folder=str(path))
    loaded = {name for name in heavy if name in sys.modules}
    result["files"][path.name] = sorted(loaded - seen)
    seen |= loaded
    result["dag_ids"] += bag.dag_ids
    result["import_errors"].update({Path(f).name: e for f, e in bag.import_errors.items()})
print(json.dumps(result))
"""


def _parse_in_child(dags_folder: Path) -> dict:
    command = [sys.executable, "-c", _PARSE_IN_CHILD, str(dags_folder), json.dumps(HEAVY)]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dagbag(dags_folder: Path = REPO / "dags"):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dags_folder))


@pytest.fixture(scope="module")
def dagbag():
    return _dagbag()


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_every_model_file_produces_its_dags(dagbag) -> None:
    names = [yaml.safe_load(p.read_text())["name"] for p in discover_model_files(MODELS)]
    assert names, "the repo ships at least one model file"
    for name in names:
        assert {f"retrain_{name}", f"monitor_{name}", f"rollback_{name}"} <= set(dagbag.dag_ids)


def test_policy_owner_tags_retries_timeouts_alerts_and_docs(dagbag) -> None:
    from include.orchestration.alerting import FailureAlert, flush_alerts

    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} must set catchup=False"
        assert dag.max_active_runs == 1, f"{dag_id} must allow one active run"
        assert dag.dagrun_timeout, f"{dag_id}: a hung run must not hold the only run slot forever"
        assert dag.start_date.year <= 2000, f"{dag_id}: a manual run for a past date must get its tasks"
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.owner and task.owner != "airflow", f"{where} has no owner"
            assert task.doc_md, f"{where} has no doc_md"
            assert task.execution_timeout, f"{where} has no execution_timeout"
            assert any(isinstance(c, FailureAlert) for c in task.on_failure_callback), f"{where} never alerts"
            assert flush_alerts in task.on_success_callback, f"{where} leaves undelivered alerts waiting"
            # The test session sets RETRAINING_TASK_RETRIES=0; production default is checked below.
            assert task.retries == int(os.environ["RETRAINING_TASK_RETRIES"]), where


def test_io_tasks_retry_with_backoff_by_default() -> None:
    code = (
        "from airflow.dag_processing.dagbag import DagBag; import json;"
        "d = DagBag(dag_folder='dags').dags['retrain_churn'];"
        "print(json.dumps({t.task_id: [t.retries, t.retry_exponential_backoff, t.retry_delay.total_seconds()]"
        " for t in d.tasks}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "RETRAINING_TASK_RETRIES"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    retries = json.loads(out.stdout.strip().splitlines()[-1])
    assert retries["extract"][0] >= 2 and retries["extract"][1]
    assert retries["extract"][2] == 30, "production waits 30 s before the first retry"
    # validate reads MLflow (transient errors retry); a failed suite raises AirflowFailException: no retry.
    assert retries["validate"][0] >= 2


def test_retrain_dag_is_scheduled_on_cron_or_drift_asset(dagbag) -> None:
    dag = dagbag.dags["retrain_churn"]
    timetable = dag.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.asset_condition.name == "churn_drift"
    assert [t.task_id for t in dag.topological_sort()] == ["extract", "validate", "train", "evaluate", "promote"]


def _retrain_dag_with_approval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    models = tmp_path / "models"
    models.mkdir()
    config = yaml.safe_load((MODELS / "churn.yaml").read_text())
    config["gate"].update(approval="required", approval_timeout=48)
    (models / "churn.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(models))
    return _dagbag().dags["retrain_churn"]


def test_approval_adds_a_human_in_the_loop_task_before_promote_only_when_required(tmp_path, monkeypatch) -> None:
    dag = _retrain_dag_with_approval(tmp_path, monkeypatch)

    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["extract", "validate", "train", "evaluate", "approve", "promote"]
    approve = dag.get_task("approve")
    assert type(approve).__name__ == "ChampionApproval" and approve.options == ["Approve", "Reject"]
    assert approve.response_timeout.total_seconds() == 48 * 3600 and approve.defaults == ["Reject"]
    assert dag.dagrun_timeout.total_seconds() >= 48 * 3600 + 3600
    # No task clock (the 2 h default execution_timeout) ends the wait before the approval window.
    assert approve.execution_timeout.total_seconds() >= 48 * 3600
    assert dag.get_task("promote").execution_timeout.total_seconds() < 48 * 3600


def test_approve_takes_the_extract_train_and_evaluate_results_as_task_inputs(tmp_path, monkeypatch) -> None:
    """Its inputs are XComArgs of those three tasks (rendered before execute), so Airflow orders it
    after them; it never pulls an XCom by task id."""
    dag = _retrain_dag_with_approval(tmp_path, monkeypatch)

    approve = dag.get_task("approve")

    assert approve.upstream_task_ids == {"extract", "train", "evaluate"}
    inputs = [(arg.operator.task_id, arg.key) for arg in approve.gate_results]
    assert inputs == [("extract", "return_value"), ("train", "return_value"), ("evaluate", "return_value")]
    assert "gate_results" in approve.template_fields
    assert {"extract", "train", "evaluate", "approve"} <= dag.get_task("promote").upstream_task_ids


def test_a_canary_adds_the_monitors_canary_task_only_when_configured(tmp_path, monkeypatch, dagbag) -> None:
    models = tmp_path / "models"
    models.mkdir()
    config = yaml.safe_load((MODELS / "churn.yaml").read_text())
    config["serving"] = {"canary": {"fraction": 0.1}}
    (models / "churn.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(models))

    monitor = _dagbag().dags["monitor_churn"]

    assert monitor.get_task("canary").upstream_task_ids == {"current", "performance"}
    assert [o.name for o in monitor.get_task("canary").outlets] == ["churn_champion"]
    assert "fraction 0.1" in monitor.doc_md
    assert "canary" not in dagbag.dags["monitor_churn"].task_ids


def test_bad_model_file_is_an_import_error_naming_it_and_others_still_load(tmp_path, monkeypatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "churn.yaml").write_text((MODELS / "churn.yaml").read_text())
    (models / "broken.yaml").write_text(
        "name: broken\ntask: classification\nsource: {table: t, timestamp_column: ts}\n"
        "target: y\nfeatures: {numeric: [a]}\ntraning: {window_days: 3}\n"
    )
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(models))

    bag = _dagbag()

    assert {"retrain_churn", "monitor_churn"} <= set(bag.dag_ids)
    # One report, not one per DAG file; it says which DAGs are missing and how to check a fix.
    (message,) = [m for f, m in bag.import_errors.items() if Path(f).name == "retrain.py"]
    assert len(bag.import_errors) == 1
    assert "broken.yaml" in message and "traning" in message and "python -m retraining check" in message


def test_parsing_the_dag_folder_imports_no_heavy_library() -> None:
    parsed = _parse_in_child(REPO / "dags")

    assert parsed["before_parsing"] == [], "Airflow itself imports these: this check cannot see the DAG files'"
    assert parsed["import_errors"] == {} and {"retrain_churn", "monitor_churn"} <= set(parsed["dag_ids"])
    imported = {name: heavy for name, heavy in parsed["files"].items() if heavy}
    assert imported == {}, f"parsing imports {imported}; import them inside the task"


def test_the_heavy_import_check_names_the_dag_file_that_imports_pandas(tmp_path: Path) -> None:
    (tmp_path / "light.py").write_text("from airflow.sdk import DAG\n\ndag = DAG('light_dag', schedule=None)\n")
    (tmp_path / "wasteful.py").write_text(
        "import pandas  # noqa: F401\nfrom airflow.sdk import DAG\n\ndag = DAG('wasteful_dag', schedule=None)\n"
    )

    parsed = _parse_in_child(tmp_path)

    assert parsed["files"]["light.py"] == [] and "pandas" in parsed["files"]["wasteful.py"]
    assert sorted(parsed["dag_ids"]) == ["light_dag", "wasteful_dag"]


def test_a_rollback_bypasses_the_gate_only_through_a_force_param_that_is_off_by_default(dagbag) -> None:
    params = dagbag.dags["rollback_churn"].params

    assert params["force"] is False
    force = params.get_param("force")
    assert force.schema["type"] == "boolean" and "forced_rollback" in force.description
    assert "force" in dagbag.dags["rollback_churn"].doc_md
