"""Real services for real DAG runs: a migrated Airflow metadata DB, a fresh data folder per test
(SQLite warehouse, MLflow store, artifacts, alerts), a Postgres warehouse database created and
dropped per test, and a loopback HTTP server standing in for Slack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from tests.support import PG_ADMIN_URL, REPO, postgres_engine, service_unavailable


@pytest.fixture(scope="session", autouse=True)
def airflow_metadata_db() -> None:
    """Migrate the scratch metadata DB once per session (the CLI, as an operator would)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )


@pytest.fixture(autouse=True)
def no_asset_events() -> None:
    """The metadata DB is shared by the session; each test starts with no asset events queued."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(AssetDagRunQueue).delete()
        session.query(AssetEvent).delete()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh warehouse, MLflow store, artifact root and alert file for this test."""
    monkeypatch.setenv("RETRAINING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_RETRAINING_DB", raising=False)
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI; a previous test's store must not leak.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "data"


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A models folder holding a copy of churn.yaml; returns a function to rewrite it."""
    folder = tmp_path / "models"
    folder.mkdir()
    shipped = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(folder))

    def write(**overrides: dict) -> dict:
        config = json.loads(json.dumps(shipped))
        for section, values in overrides.items():
            config[section].update(values)
        (folder / "churn.yaml").write_text(yaml.safe_dump(config))
        return config

    write()
    return write


@pytest.fixture
def postgres_warehouse(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A uniquely named database on the local server, dropped afterwards; after `data_dir`,
    which would otherwise remove the connection it sets."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"retraining_test_{uuid.uuid4().hex[:10]}"
    try:
        engine = postgres_engine()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no Postgres here
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url)
    yield url
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_backend(request: pytest.FixtureRequest, data_dir: Path, models_dir) -> str:
    """The embedded SQLite warehouse, then a PostgreSQL database created for the test."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_warehouse")
    return request.param


@dataclass
class FakeSlack:
    """A real HTTP endpoint on loopback that records what the Slack webhook hook posts."""

    url: str
    messages: list[dict] = field(default_factory=list)


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps({"conn_type": "slackwebhook", "password": url}))
    yield FakeSlack(url, received)
    server.shutdown()


@pytest.fixture(scope="module")
def churn_snapshot(tmp_path_factory: pytest.TempPathFactory):
    """A training snapshot of 3,000 generated churn rows (tests.support_models.SNAPSHOT_WINDOW),
    as `extract` hands it to `train`."""
    from demo.churn_data import generate_snapshots
    from include.retraining.artifacts import write_snapshot
    from include.retraining.common import Window
    from include.retraining.retrain import Extracted
    from tests.support_models import SNAPSHOT_WINDOW

    window = Window(*SNAPSHOT_WINDOW)
    frame = generate_snapshots(3000, window.start, window.end, seed=5)
    snapshot = write_snapshot(frame, tmp_path_factory.mktemp("artifacts"), "churn", window)
    return Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, window)
