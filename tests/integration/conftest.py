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
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, service_unavailable

PG_ADMIN_URL = os.environ.get("RETRAINING_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


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


def _postgres_engine():
    import sqlalchemy as sa

    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def postgres_databases(*names: str, drop: bool = False) -> None:
    """Create (or drop, with their connections) databases on the local server."""
    import sqlalchemy as sa

    engine = _postgres_engine()
    with engine.connect() as conn:
        for name in names:
            verb = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"'
            conn.execute(sa.text(verb))
    engine.dispose()


@pytest.fixture
def postgres_warehouse(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A uniquely named database on the local server, dropped afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"retraining_test_{uuid.uuid4().hex[:10]}"
    try:
        engine = _postgres_engine()
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
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
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


def warehouse_url() -> str:
    from include.retraining.settings import load_settings

    return os.environ.get("AIRFLOW_CONN_WAREHOUSE") or load_settings().warehouse_default_url


def load_weeks(start: datetime, weeks: int, rows_per_week: int = 900, seed: int = 11, world=None) -> None:
    """Write `weeks` weekly partitions of demo churn data into the test's warehouse."""
    from include.demo.churn_data import STABLE, TABLE, generate_snapshots
    from include.retraining.warehouse import replace_window

    for week in range(weeks):
        begin = start + timedelta(days=7 * week)
        frame = generate_snapshots(rows_per_week, begin, begin + timedelta(days=7), seed=seed, world=world or STABLE)
        replace_window(warehouse_url(), TABLE, frame, "snapshot_at", begin, begin + timedelta(days=7))


def drift_events(model: str = "churn") -> list[dict]:
    """The extras of the events recorded on the model's drift asset, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"{model}_drift")
            .order_by(AssetEvent.timestamp)
        )
        return [dict(event.extra or {}) for event in events]


def run_dag(dag_id: str, logical_date: datetime, conf: dict | None = None) -> dict[str, str]:
    """One real DAG run in this process; the states of its tasks from the metadata DB."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    run = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf or {})
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id)
        return {ti.task_id: str(ti.state) for ti in tis}


UTC = UTC
