"""Artifacts in object storage: with RETRAINING_ARTIFACT_ROOT=s3://bucket/prefix (moto's S3 server
on loopback, reached through the standard AWS_* environment), a real retrain and a real monitor run
write every snapshot, reference, GX result and Evidently report to the bucket and none to the local
data folder, and the UI plugin's route serves the report from the bucket."""

from __future__ import annotations

import importlib.util
import socket
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from include.retraining.common import load_settings
from include.retraining.tables import read_monitoring
from tests.support import REPO, UTC, load_weeks, pipeline_db, run_dag

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
TRAINED_AT = START + timedelta(weeks=10)
NEXT_WEEK = TRAINED_AT + timedelta(weeks=1)
# Files the pipeline writes as artifacts; MLflow's own local store (mlartifacts/) is not one.
ARTIFACT_SUFFIXES = {".parquet", ".html", ".json"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_root(s3_endpoint: str, data_dir: Path, models_dir, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket, set as the artifact root through the environment alone."""
    import boto3
    import s3fs

    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("RETRAINING_ARTIFACT_ROOT", f"s3://{bucket}/prefix")
    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep another test's endpoint
    yield f"s3://{bucket}/prefix"
    s3fs.S3FileSystem.clear_instance_cache()


def _keys(root: str) -> list[str]:
    import boto3

    parts = urlsplit(root)
    listing = boto3.client("s3").list_objects_v2(Bucket=parts.netloc, Prefix=parts.path.lstrip("/") + "/")
    prefix = parts.path.lstrip("/") + "/"
    return sorted(item["Key"].removeprefix(prefix) for item in listing.get("Contents", []))


def _local_artifacts(data_dir: Path) -> list[str]:
    mlflow_store = data_dir / "mlartifacts"
    return sorted(
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file() and p.suffix in ARTIFACT_SUFFIXES and not p.is_relative_to(mlflow_store)
    )


def _artifact_app():
    """The UI plugin's artifact route, loaded as Airflow loads a plugin module."""
    spec = importlib.util.spec_from_file_location("retraining_links", REPO / "plugins" / "retraining_links.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["retraining_links"] = module
    spec.loader.exec_module(module)
    app = module.create_artifact_app()
    app.dependency_overrides[module.model_access] = lambda: lambda model: model == "churn"
    return app


def test_retrain_and_monitor_keep_every_artifact_in_the_bucket_and_the_ui_serves_it(
    s3_root: str, data_dir: Path
) -> None:
    assert load_settings().artifact_root == s3_root
    load_weeks(START, weeks=11)

    retrain = run_dag("retrain_churn", TRAINED_AT)
    monitor = run_dag("monitor_churn", NEXT_WEEK)

    assert retrain["promote"] == "success" and monitor["report"] == "success", (retrain, monitor)
    keys = _keys(s3_root)
    kinds = {key.split("/")[1] for key in keys}
    assert kinds == {"snapshots", "validation", "reference", "monitoring"}, keys
    assert any(k.endswith("/gx_result.html") for k in keys) and any(k.endswith("/drift_report.html") for k in keys)
    assert any(k.startswith("churn/reference/v1/") and k.endswith("/profile.json") for k in keys)
    assert not (data_dir / "artifacts").exists()
    assert _local_artifacts(data_dir) == []

    (row,) = read_monitoring(pipeline_db(), "churn").to_dict("records")
    report_key = row["report_path"].removeprefix(s3_root + "/")
    assert row["report_path"].startswith(f"{s3_root}/churn/monitoring/") and report_key in keys

    served = TestClient(_artifact_app()).get(f"/{report_key}")

    assert served.status_code == 200 and "<html" in served.text.lower()
    assert served.headers["content-security-policy"].startswith("sandbox")
