"""The production topology, natively: CeleryExecutor on the local Redis, a Postgres metadata
database, api-server, scheduler, dag-processor, triggerer, one Celery worker, and an MLflow
tracking server on its own Postgres database that requires a login. Driven through public
interfaces only: the Airflow REST API v2 with a token, and the MLflow client against the server URL
with the stack's credentials."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from mlflow.tracking import MlflowClient

from demo.churn_data import PRICING_CHANGE, STABLE, TABLE, generate_snapshots, load_window
from tests.support import (
    PG_ADMIN_URL,
    REDIS_URL,
    claimed_redis_db,
    postgres_databases,
    redis_url,
    service_unavailable,
)
from tests.support_served import read_predictions
from tools.native_stack import ADMIN, NativeStack, wait_until

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
TRAINED_AT = START + timedelta(weeks=10)
DRIFT_AT = TRAINED_AT + timedelta(weeks=1)


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
def stack(broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    suffix = uuid.uuid4().hex[:8]
    airflow_db, mlflow_db = f"stack_airflow_{suffix}", f"stack_mlflow_{suffix}"
    try:
        postgres_databases(airflow_db, mlflow_db)
    except Exception as exc:  # noqa: BLE001 - no server, no stack
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    home = tmp_path_factory.mktemp("stack")
    url = sa.engine.make_url(PG_ADMIN_URL)
    stack = NativeStack(
        home=home,
        metadata_url=url.set(database=airflow_db).render_as_string(hide_password=False),
        executor="CeleryExecutor",
        broker_url=broker_url,
        mlflow_backend_url=url.set(drivername="postgresql", database=mlflow_db).render_as_string(hide_password=False),
        extra_env={"RETRAINING_TASK_RETRIES": "0"},
    )
    warehouse = f"sqlite:///{home / 'data' / 'warehouse.db'}"
    _load(warehouse, 0, 10)
    # Today's rows, for score_churn: a run started by the champion event scores the latest
    # complete interval of its cron grid on the real clock.
    now = datetime.now(UTC).replace(microsecond=0)
    recent = generate_snapshots(300, now - timedelta(days=3), now, seed=12)
    load_window(warehouse, TABLE, recent, now - timedelta(days=3), now)
    try:
        # Five processes importing Airflow (and MLflow) at once: minutes beside other test sessions on 2 cores.
        stack.start(timeout_s=600)
        stack.wait_for_dags(["retrain_churn", "monitor_churn", "score_churn"])
        with pytest.MonkeyPatch.context() as env:  # the MLflow client reads its credentials from here
            for name, value in stack.mlflow_credentials().items():
                env.setenv(name, value)
            yield stack
    finally:
        pids = [p.pid for p in stack.processes.values()]
        stack.stop()
        postgres_databases(airflow_db, mlflow_db, drop=True)
        for pid in pids:  # the fixture leaves no process behind: no leader, nothing in its group
            with pytest.raises(ProcessLookupError):
                os.killpg(pid, 0)


def test_retrain_then_drift_starts_an_asset_triggered_retrain_on_the_celery_worker(stack: NativeStack) -> None:
    client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)

    run_id = stack.trigger("retrain_churn", TRAINED_AT)
    run = stack.wait_for_run("retrain_churn", run_id, timeout_s=400)

    assert run["state"] == "success", stack.task_states("retrain_churn", run_id)
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    worker_log = (stack.home / "logs" / "celery-worker.log").read_text()
    assert "retrain_churn" in worker_log  # executed by the Celery worker, not in-process
    train_log = next(
        (stack.home / "airflow" / "logs").glob(f"dag_id=retrain_churn/run_id={run_id}/task_id=train/*.log")
    )
    assert "libraries preloaded by the worker: yes" in train_log.read_text()
    _assert_the_new_champion_starts_scoring(stack, run_id, champion="1")

    _load(f"sqlite:///{stack.home / 'data' / 'warehouse.db'}", 10, 1, world=PRICING_CHANGE)
    monitor_id = stack.trigger("monitor_churn", DRIFT_AT)
    monitor = stack.wait_for_run("monitor_churn", monitor_id, timeout_s=400)

    assert monitor["state"] == "success" and stack.task_states("monitor_churn", monitor_id)["trigger"] == "success"

    def asset_triggered_run() -> dict | None:
        runs = [r for r in stack.runs("retrain_churn") if r["run_type"] == "asset_triggered"]
        return runs[0] if runs else None

    triggered = wait_until(asset_triggered_run, 120, "the scheduler to create an asset-triggered retrain", 2)
    finished = stack.wait_for_run("retrain_churn", triggered["dag_run_id"], timeout_s=400)

    assert finished["state"] == "success", stack.task_states("retrain_churn", triggered["dag_run_id"])
    experiment = client.get_experiment_by_name("churn")
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`airflow.run_id` = '{}'".format(triggered["dag_run_id"])
    )
    assert runs and runs[0].data.tags["retraining.trigger"].startswith("drift: ")
    # The drift event's window end, less the 7-day label delay: the retrain used the window that drifted.
    assert runs[0].data.tags["retraining.window_end"].startswith((DRIFT_AT - timedelta(days=7)).date().isoformat())


def _assert_the_new_champion_starts_scoring(stack: NativeStack, promoted_by: str, champion: str) -> None:
    """The promote task's event on asset churn_champion makes the scheduler start score_churn,
    which writes the interval's predictions with the version just promoted."""

    def scoring_run() -> dict | None:
        runs = [r for r in stack.runs("score_churn") if r["run_type"] == "asset_triggered"]
        return runs[0] if runs else None

    triggered = wait_until(scoring_run, 120, "the scheduler to start score_churn on the champion event", 2)
    finished = stack.wait_for_run("score_churn", triggered["dag_run_id"], timeout_s=300)

    assert finished["state"] == "success", stack.task_states("score_churn", triggered["dag_run_id"])
    events = stack.api("GET", "/assets/events", params={"source_dag_id": "retrain_churn", "limit": 10})
    assert any(e["source_run_id"] == promoted_by for e in events["asset_events"])
    written = read_predictions(f"sqlite:///{stack.home / 'data' / 'pipeline.db'}", "churn_predictions", "churn")
    rows = written[written["run_id"] == triggered["dag_run_id"]]
    assert len(rows) > 0 and set(rows["model_version"]) == {champion} and set(rows["alias"]) == {"champion"}


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
