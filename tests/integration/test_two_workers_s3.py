"""Two Celery workers that share no folder, as on two hosts: each has a data directory of its own,
the artifacts live in an S3-compatible server on loopback (moto's server mode), the warehouse,
the pipeline's tables, Airflow and MLflow in PostgreSQL. A retrain and a monitor run across both
workers: a task on one reads what a task on the other wrote (the snapshot, the reference, the
rows), nothing is written to either data directory, and the api-server serves the drift report
from the bucket."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from demo.churn_data import STABLE, TABLE, generate_snapshots, load_window
from tests.support import (
    PG_ADMIN_URL,
    REDIS_URL,
    claimed_redis_db,
    postgres_databases,
    redis_url,
    service_unavailable,
)
from tools.native_stack import NativeStack, free_ports

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
TRAINED_AT = START + timedelta(weeks=10)
NEXT_WEEK = TRAINED_AT + timedelta(weeks=1)
HOSTS = ("host-a", "host-b")
ARTIFACT_SUFFIXES = {".parquet", ".html", ".json"}


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


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
def stack(s3: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NativeStack, str]]:
    """The stack, and the URL of its pipeline database."""
    if not _redis_reachable():
        service_unavailable(f"Redis at {REDIS_URL} (the Celery broker)")
    suffix = uuid.uuid4().hex[:8]
    names = [f"two_{kind}_{suffix}" for kind in ("airflow", "mlflow", "warehouse", "pipeline")]
    try:
        postgres_databases(*names)
    except Exception as exc:  # noqa: BLE001 - no server, no stack
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    url = sa.engine.make_url(PG_ADMIN_URL)
    airflow_db, _, warehouse_db, pipeline_db = (
        url.set(database=name).render_as_string(hide_password=False) for name in names
    )
    home = tmp_path_factory.mktemp("two-workers")
    for week in range(11):
        begin = START + timedelta(weeks=week)
        frame = generate_snapshots(900, begin, begin + timedelta(weeks=1), seed=11, world=STABLE)
        load_window(warehouse_db, TABLE, frame, begin, begin + timedelta(weeks=1))
    with claimed_redis_db("test_two_workers_s3") as db:
        stack = NativeStack(
            home=home,
            metadata_url=airflow_db,
            executor="CeleryExecutor",
            broker_url=redis_url(db),
            mlflow_backend_url=url.set(drivername="postgresql", database=names[1]).render_as_string(
                hide_password=False
            ),
            extra_env={
                **s3,
                "RETRAINING_TASK_RETRIES": "0",
                "AIRFLOW_CONN_WAREHOUSE": warehouse_db,
                "AIRFLOW_CONN_RETRAINING_DB": pipeline_db,
            },
            worker_envs=tuple({"RETRAINING_DATA_DIR": str(home / host / "data")} for host in HOSTS),
        )
        try:
            stack.start(timeout_s=600)
            stack.wait_for_dags(["retrain_churn", "monitor_churn", "score_churn"])
            # The champion event would start scoring today's interval, which has no rows here.
            stack.api("PATCH", "/dags/score_churn", json={"is_paused": True})
            yield stack, pipeline_db
        finally:
            pids = [p.pid for p in stack.processes.values()]
            stack.stop()
            postgres_databases(*names, drop=True)
            for pid in pids:
                with pytest.raises(ProcessLookupError):
                    os.killpg(pid, 0)


def _local_artifacts(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.suffix in ARTIFACT_SUFFIXES)


def _tasks_run_by(stack: NativeStack, worker: str) -> int:
    log = (stack.home / "logs" / f"{worker}.log").read_text(errors="replace")
    return log.count("retrain_churn") + log.count("monitor_churn")


def _keys(root: str) -> list[str]:
    import boto3

    bucket, prefix = root.removeprefix("s3://").split("/", 1)
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return sorted(item["Key"].removeprefix(prefix + "/") for item in listing.get("Contents", []))


def test_two_workers_without_a_shared_folder_retrain_and_monitor_through_the_bucket(
    stack: tuple[NativeStack, str], s3: dict[str, str]
) -> None:
    from include.retraining.tables import read_monitoring
    from include.retraining.warehouse import Database

    stack, pipeline_url = stack
    retrain_id = stack.trigger("retrain_churn", TRAINED_AT)
    retrain = stack.wait_for_run("retrain_churn", retrain_id, timeout_s=900)
    assert retrain["state"] == "success", stack.task_states("retrain_churn", retrain_id)
    monitor_id = stack.trigger("monitor_churn", NEXT_WEEK)
    monitor = stack.wait_for_run("monitor_churn", monitor_id, timeout_s=900)
    assert monitor["state"] == "success", stack.task_states("monitor_churn", monitor_id)

    ran = {worker: _tasks_run_by(stack, worker) for worker in ("celery-worker", "celery-worker-2")}
    assert all(ran.values()), f"both workers take tasks: {ran}"
    for host in HOSTS:
        assert _local_artifacts(stack.home / host) == []
    assert _local_artifacts(stack.home / "data") == []
    keys = _keys(s3["RETRAINING_ARTIFACT_ROOT"])
    assert {key.split("/")[1] for key in keys} == {"snapshots", "validation", "reference", "monitoring"}, keys

    (row,) = read_monitoring(Database(pipeline_url), "churn").to_dict("records")
    report_key = row["report_path"].removeprefix(s3["RETRAINING_ARTIFACT_ROOT"] + "/")
    served = requests.get(
        f"{stack.api_url}/retraining-artifacts/{report_key}",
        headers={"Authorization": f"Bearer {stack.token()}"},
        timeout=60,
    )
    assert served.status_code == 200 and "<html" in served.text.lower(), served.text[:300]
