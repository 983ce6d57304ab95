"""The reliability tier: faults and bad inputs on real parts (Postgres, an MLflow store or server,
real DAG runs, a loopback Slack), each test proving one row of docs/reliability.md.

Kept fast: the champion every fault test starts from is trained once per session, in a fixed
folder, and put back byte for byte before each test (`world`); servers are module-scoped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.world import CHAMPION_AT, START, World
from tests.support import PG_ADMIN_URL, load_weeks, postgres_databases, run_dag, service_unavailable
from tests.support_faults import Pristine, SlackStub, TcpProxy, mlflow_server, slack_stub


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The scratch metadata DB, migrated once per session (the CLI, as an operator would); only
    the tests that run DAGs pay for it."""
    marker = Path(os.environ["AIRFLOW_HOME"]) / ".migrated"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        marker.touch()


@pytest.fixture(scope="session")
def warehouse_db() -> Iterator[str]:
    """One Postgres warehouse for the tier, loaded once with demo weeks; the pipeline only reads it."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"retraining_rel_{uuid.uuid4().hex[:10]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no Postgres here
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    previous = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = url
    try:
        load_weeks(START, weeks=10, rows_per_week=600)
    finally:
        os.environ.pop("AIRFLOW_CONN_WAREHOUSE")
        if previous is not None:
            os.environ["AIRFLOW_CONN_WAREHOUSE"] = previous
    yield url
    postgres_databases(name, drop=True)
    sa.create_engine(PG_ADMIN_URL).dispose()


@pytest.fixture(scope="session")
def pristine_world(tmp_path_factory: pytest.TempPathFactory, warehouse_db: str, airflow_db: None) -> Pristine:
    """A champion (version 1) trained by a real retrain_churn run, saved once for the session."""
    root = tmp_path_factory.mktemp("reliability") / "world"
    world = World(root / "data", root / "models", warehouse_db)
    world.models_dir.mkdir(parents=True)
    world.write_model()
    saved = {key: os.environ.get(key) for key in (*world.env, "MLFLOW_TRACKING_URI")}
    os.environ.update(world.env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        states = run_dag("retrain_churn", CHAMPION_AT)
        assert states.get("promote") == "success", f"the baseline champion was not promoted: {states}"
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value
    pristine = Pristine(root)
    pristine.save()
    pristine.promotions_upto = _newest_promotion(warehouse_db)
    return pristine


def _newest_promotion(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM model_promotions")).scalar_one()
    finally:
        engine.dispose()


def _restore_warehouse(url: str, promotions_upto: int) -> None:
    """The tables the pipeline writes in the warehouse, as the pristine world left them: the
    promotion log's later rows would otherwise describe moves of another test's MLflow store."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM model_promotions WHERE id > :upto"), {"upto": promotions_upto})
            conn.execute(sa.text("DROP TABLE IF EXISTS model_monitoring"))
            conn.execute(sa.text("DROP TABLE IF EXISTS churn_predictions"))
    finally:
        engine.dispose()


@pytest.fixture
def world(pristine_world: Pristine, warehouse_db: str, monkeypatch: pytest.MonkeyPatch) -> World:
    """The session's champion world, restored byte for byte, with this test's environment."""
    pristine_world.restore()
    _restore_warehouse(warehouse_db, pristine_world.promotions_upto)
    world = World(pristine_world.live / "data", pristine_world.live / "models", warehouse_db)
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_ALERTS", raising=False)
    return world


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStub]:
    """A loopback Slack webhook answering 200 until the test sets `slack.mode`."""
    with slack_stub() as stub:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", stub.connection(timeout_s=2))
        yield stub


@pytest.fixture
def tcp_proxy() -> Iterator:
    """A factory of loopback TCP proxies (host, port) -> TcpProxy, all stopped after the test."""
    proxies: list[TcpProxy] = []

    def make(host: str, port: int) -> TcpProxy:
        proxy = TcpProxy(host, port)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory):
    """An MLflow tracking server (SQLite backend, served artifacts) for one test module."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server
