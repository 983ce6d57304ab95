"""The production topology, natively, as on two hosts: CeleryExecutor on the local Redis,
api-server, scheduler, dag-processor, triggerer, two Celery workers that share no folder (each a
data directory of its own), the artifacts in an S3-compatible server on loopback (moto's server
mode), and in PostgreSQL the Airflow metadata, the warehouse, the pipeline's tables and an MLflow
tracking server's store behind a login. Driven through public interfaces only: the Airflow REST
API v2 with a token, and the MLflow client against the server URL with the stack's credentials.
OpenLineage is on (the provider's file transport): the runs' events name what they read and wrote."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml
from mlflow.tracking import MlflowClient

from demo.churn_data import PRICING_CHANGE, STABLE, TABLE, generate_snapshots, load_window
from tests.support import (
    PG_ADMIN_URL,
    REDIS_URL,
    REPO,
    claimed_redis_db,
    postgres_databases,
    quiet_model_file,
    redis_url,
    service_unavailable,
)
from tests.support_served import read_predictions
from tools.native_stack import ADMIN, NativeStack, free_ports, wait_until

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
TRAINED_AT = START + timedelta(weeks=10)
DRIFT_AT = TRAINED_AT + timedelta(weeks=1)
HOSTS = ("host-a", "host-b")
WORKERS = ("celery-worker", "celery-worker-2")
ARTIFACT_SUFFIXES = {".parquet", ".html", ".json"}


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _load(warehouse: str, first_week: int, weeks: int, world=STABLE) -> None:
    for week in range(first_week, first_week + weeks):
        begin = START + timedelta(weeks=week)
        frame = generate_snapshots(900, begin, begin + timedelta(weeks=1), seed=11, world=world)
        load_window(warehouse, TABLE, frame, begin, begin + timedelta(weeks=1))


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """A Redis database of this stack's own: on a Redis other stacks or suites share, a database
    another Celery worker reads would take this stack's tasks (or hand it theirs)."""
    if not _redis_reachable():
        service_unavailable(f"Redis at {REDIS_URL} (the Celery broker)")
    with claimed_redis_db("test_native_stack") as db:
        yield redis_url(db)


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """moto's S3 server on a free loopback port, a bucket in it, and the standard AWS_* variables
    that reach it (for this process and the stack's)."""
    import boto3
    from moto.server import ThreadedMotoServer

    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            boto3.client("s3").create_bucket(Bucket=bucket)
            yield {**env, "RETRAINING_ARTIFACT_ROOT": f"s3://{bucket}/prefix"}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(broker_url: str, s3: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    suffix = uuid.uuid4().hex[:8]
    names = [f"stack_{kind}_{suffix}" for kind in ("airflow", "mlflow", "warehouse", "pipeline")]
    try:
        postgres_databases(*names)
    except Exception as exc:  # noqa: BLE001 - no server, no stack
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    home = tmp_path_factory.mktemp("stack")
    models = home / "models"  # the shipped churn.yaml, its crons quiet: the runs are the test's
    models.mkdir()
    shipped = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    (models / "churn.yaml").write_text(yaml.safe_dump(quiet_model_file(shipped)))
    url = sa.engine.make_url(PG_ADMIN_URL)
    airflow_db, mlflow_db, warehouse, pipeline = (
        url.set(database=n).render_as_string(hide_password=False) for n in names
    )
    transport = {"type": "file", "log_file_path": str(home / "openlineage.jsonl"), "append": True}
    stack = NativeStack(
        home=home,
        metadata_url=airflow_db,
        executor="CeleryExecutor",
        broker_url=broker_url,
        mlflow_backend_url=sa.engine.make_url(mlflow_db)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        extra_env={
            **s3,
            "RETRAINING_TASK_RETRIES": "0",
            "RETRAINING_MODELS_DIR": str(models),
            "AIRFLOW_CONN_WAREHOUSE": warehouse,
            "AIRFLOW_CONN_RETRAINING_DB": pipeline,
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        },
        worker_envs=tuple({"RETRAINING_DATA_DIR": str(home / host / "data")} for host in HOSTS),
    )
    _load(warehouse, 0, 10)
    # Today's rows, for score_churn: a run started by the champion event scores the latest
    # complete interval of its cron grid on the real clock.
    now = datetime.now(UTC).replace(microsecond=0)
    recent = generate_snapshots(300, now - timedelta(days=3), now, seed=12)
    load_window(warehouse, TABLE, recent, now - timedelta(days=3), now)
    try:
        # Six processes importing Airflow (and MLflow) at once: minutes beside other test sessions on 2 cores.
        stack.start(timeout_s=600)
        stack.wait_for_dags(["retrain_churn", "monitor_churn", "score_churn"])
        with pytest.MonkeyPatch.context() as env:  # the MLflow client reads its credentials from here
            for name, value in stack.mlflow_credentials().items():
                env.setenv(name, value)
            yield stack
    finally:
        pids = [p.pid for p in stack.processes.values()]
        stack.stop()
        postgres_databases(*names, drop=True)
        for pid in pids:  # the fixture leaves no process behind: no leader, nothing in its group
            with pytest.raises(ProcessLookupError):
                os.killpg(pid, 0)


def test_retrain_then_drift_starts_an_asset_triggered_retrain_on_the_celery_workers(
    stack: NativeStack, s3: dict[str, str]
) -> None:
    client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)

    run_id = stack.trigger("retrain_churn", TRAINED_AT)
    run = stack.wait_for_run("retrain_churn", run_id, timeout_s=600)

    assert run["state"] == "success", stack.task_states("retrain_churn", run_id)
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    train_log = next(
        (stack.home / "airflow" / "logs").glob(f"dag_id=retrain_churn/run_id={run_id}/task_id=train/*.log")
    )
    assert "libraries preloaded by the worker: yes" in train_log.read_text()
    scored_by = _assert_the_new_champion_starts_scoring(stack, run_id, champion="1")

    _load(stack.env()["AIRFLOW_CONN_WAREHOUSE"], 10, 1, world=PRICING_CHANGE)
    monitor_id = stack.trigger("monitor_churn", DRIFT_AT)
    monitor = stack.wait_for_run("monitor_churn", monitor_id, timeout_s=600)

    assert monitor["state"] == "success" and stack.task_states("monitor_churn", monitor_id)["trigger"] == "success"

    def asset_triggered_run() -> dict | None:
        runs = [r for r in stack.runs("retrain_churn") if r["run_type"] == "asset_triggered"]
        return runs[0] if runs else None

    triggered = wait_until(asset_triggered_run, 120, "the scheduler to create an asset-triggered retrain", 2)
    finished = stack.wait_for_run("retrain_churn", triggered["dag_run_id"], timeout_s=600)

    assert finished["state"] == "success", stack.task_states("retrain_churn", triggered["dag_run_id"])
    experiment = client.get_experiment_by_name("churn")
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`airflow.run_id` = '{}'".format(triggered["dag_run_id"])
    )
    assert runs and runs[0].data.tags["retraining.trigger"].startswith("drift: ")
    # The drift event's window end, less the 7-day label delay: the retrain used the window that drifted.
    assert runs[0].data.tags["retraining.window_end"].startswith((DRIFT_AT - timedelta(days=7)).date().isoformat())
    _assert_no_shared_folder(stack, s3)
    _assert_lineage(stack, s3, run_id, scored_by)


def _assert_no_shared_folder(stack: NativeStack, s3: dict[str, str]) -> None:
    """Both workers took tasks (executed by Celery, not in-process); no artifact in either host's
    data directory: each read what the other wrote from the bucket, whose report the api-server serves."""
    from include.retraining.tables import read_monitoring
    from include.retraining.warehouse import Database

    ran = {w: (stack.home / "logs" / f"{w}.log").read_text(errors="replace").count("_churn") for w in WORKERS}
    assert all(ran.values()), f"both workers take tasks: {ran}"
    for folder in (*(stack.home / host for host in HOSTS), stack.home / "data"):
        assert _local_artifacts(folder) == []
    keys = _keys(s3["RETRAINING_ARTIFACT_ROOT"])
    assert {key.split("/")[1] for key in keys} >= {"snapshots", "validation", "reference", "monitoring"}, keys
    (row,) = read_monitoring(Database(stack.env()["AIRFLOW_CONN_RETRAINING_DB"]), "churn").to_dict("records")
    report_key = row["report_path"].removeprefix(s3["RETRAINING_ARTIFACT_ROOT"] + "/")
    served = requests.get(
        f"{stack.api_url}/retraining-artifacts/{report_key}",
        headers={"Authorization": f"Bearer {stack.token()}"},
        timeout=60,
    )
    assert served.status_code == 200 and "<html" in served.text.lower(), served.text[:300]


def _local_artifacts(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.suffix in ARTIFACT_SUFFIXES)


def _keys(root: str) -> list[str]:
    import boto3

    bucket, prefix = root.removeprefix("s3://").split("/", 1)
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return sorted(item["Key"].removeprefix(prefix + "/") for item in listing.get("Contents", []))


def _completed(stack: NativeStack, dag_id: str, run_id: str) -> dict[str, dict]:
    """The OpenLineage COMPLETE event of each task of one DAG run, by task id."""
    found = {}
    for line in (stack.home / "openlineage.jsonl").read_text().splitlines():
        event = json.loads(line)
        airflow = event["run"]["facets"].get("airflow", {})
        job = event["job"]["name"]
        if (
            event["eventType"] == "COMPLETE"
            and job.startswith(f"{dag_id}.")
            and airflow.get("dagRun", {}).get("run_id") == run_id
        ):
            found[job.split(".", 1)[1]] = event
    return found


def _names(datasets: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def _assert_lineage(stack: NativeStack, s3: dict[str, str], retrain_id: str, score_id: str) -> None:
    """The retrain's and the score's events name the source table (its columns as the schema), the
    snapshot in the bucket, the model the run logged, the registered version with its reference
    profile, and the predictions table; by OpenLineage's naming, without credentials."""
    env = stack.env()
    warehouse, pipeline = (sa.engine.make_url(env[k]) for k in ("AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_CONN_RETRAINING_DB"))
    server = f"postgres://{warehouse.host}:{warehouse.port or 5432}"
    source = (server, f"{warehouse.database}.public.{TABLE}")
    retrain, scored = _completed(stack, "retrain_churn", retrain_id), _completed(stack, "score_churn", score_id)
    extract, train, promote, score = retrain["extract"], retrain["train"], retrain["promote"], scored["score"]
    bucket, prefix = s3["RETRAINING_ARTIFACT_ROOT"].removeprefix("s3://").split("/", 1)

    assert _names(extract["inputs"]) == [source]
    assert {"customer_id", "snapshot_at", "churned"} <= {
        f["name"] for f in extract["inputs"][0]["facets"]["schema"]["fields"]
    }
    ((namespace, snapshot),) = _names(extract["outputs"])
    assert namespace == f"s3://{bucket}" and snapshot.startswith(f"{prefix}/churn/snapshots/")
    assert _names(train["inputs"]) == [(namespace, snapshot)]
    ((store, logged),) = _names(train["outputs"])
    assert store == f"mlflow://127.0.0.1:{stack.mlflow_port}" and logged.endswith("/model")
    (version,) = promote["outputs"]
    assert (version["namespace"], version["name"]) == (store, "churn/versions/1")
    assert version["facets"]["retrainingReferenceProfile"]["rows"] > 0
    assert _names(score["inputs"]) == [source, (store, "churn/versions/1")]
    assert _names(score["outputs"]) == [(server, f"{pipeline.database}.public.churn_predictions")]
    assert stack.mlflow_password not in (stack.home / "openlineage.jsonl").read_text()


def _assert_the_new_champion_starts_scoring(stack: NativeStack, promoted_by: str, champion: str) -> str:
    """The promote task's event on asset churn_champion makes the scheduler start score_churn,
    which writes the interval's predictions with the version just promoted; its run id."""

    def scoring_run() -> dict | None:
        runs = [r for r in stack.runs("score_churn") if r["run_type"] == "asset_triggered"]
        return runs[0] if runs else None

    triggered = wait_until(scoring_run, 120, "the scheduler to start score_churn on the champion event", 2)
    finished = stack.wait_for_run("score_churn", triggered["dag_run_id"], timeout_s=300)

    assert finished["state"] == "success", stack.task_states("score_churn", triggered["dag_run_id"])
    events = stack.api("GET", "/assets/events", params={"source_dag_id": "retrain_churn", "limit": 10})
    assert any(e["source_run_id"] == promoted_by for e in events["asset_events"])
    written = read_predictions(stack.env()["AIRFLOW_CONN_RETRAINING_DB"], "churn_predictions", "churn")
    rows = written[written["run_id"] == triggered["dag_run_id"]]
    assert len(rows) > 0 and set(rows["model_version"]) == {champion} and set(rows["alias"]) == {"champion"}
    return triggered["dag_run_id"]


@pytest.mark.parametrize("auth", [None, ("admin", "not-the-password")], ids=["anonymous", "wrong-password"])
def test_the_registry_refuses_writes_without_the_stack_credentials(stack: NativeStack, auth) -> None:
    base = f"{stack.mlflow_url}/api/2.0/mlflow"

    created = requests.post(f"{base}/registered-models/create", json={"name": "intruder"}, auth=auth, timeout=10)
    moved = requests.post(
        f"{base}/registered-models/alias",
        json={"name": "churn", "alias": "champion", "version": "1"},
        auth=auth,
        timeout=10,
    )

    assert (created.status_code, moved.status_code) == (401, 401)
    with_login = requests.get(
        f"{base}/registered-models/get", params={"name": "intruder"}, auth=(ADMIN, stack.mlflow_password), timeout=10
    )
    assert with_login.status_code == 404, "nothing was created"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def test_each_server_of_the_stack_listens_on_a_port_of_its_own(stack: NativeStack) -> None:
    """The Celery worker's and the triggerer's log servers took the stack's ports, not Airflow's
    fixed defaults (8793, 8794), which a second stack on the machine would also take."""
    ports = {
        "api-server": stack.api_port,
        "mlflow": stack.mlflow_port,
        "celery worker log server": stack.worker_log_port,
        "triggerer log server": stack.trigger_log_port,
    }

    # The log servers start beside their process: wait for them, generously, before calling one missing.
    wait_until(lambda: all(map(_listening, ports.values())), 120, f"the stack's servers to listen on {ports}", 2)

    assert len(set(ports.values())) == len(ports) and not {8080, 8793, 8794} & set(ports.values()), ports
