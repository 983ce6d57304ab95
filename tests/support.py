"""Helpers shared by test modules: plain functions and constants, imported explicitly.

Fixtures stay in the conftest files; anything a test module imports by name lives here, so no test
imports a conftest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
# The servers integration tests use; `make test` points these at throwaway ones when none answers
# (tools/services.py), CI at its service containers.
PG_ADMIN_URL = os.environ.get("RETRAINING_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RETRAINING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# MariaDB (or MySQL) for the warehouse tests of that dialect: every machine here runs one.
MYSQL_ADMIN_URL = os.environ.get("RETRAINING_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")
# For a model a test logs or saves itself: without them, MLflow infers the requirements by loading the
# model in a subprocess, seconds a time (the pipeline pins its own, tracking/tracker.py).
MODEL_PIP_REQUIREMENTS = ["scikit-learn", "skops"]


def save_skops_model(model, folder: Path, trusted: list[str] | None = None) -> Path:
    """`model` saved to `folder` as this project saves models: skops, our trusted types only (or
    `trusted`: a model file's `training.trusted_types` added to them)."""
    import mlflow.sklearn

    from include.retraining.learning import SKOPS_TRUSTED_TYPES

    mlflow.sklearn.save_model(
        model,
        folder,
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES if trusted is None else trusted,
        pip_requirements=MODEL_PIP_REQUIREMENTS,
    )
    return folder


__all__ = [
    "MYSQL_ADMIN_URL",
    "PG_ADMIN_URL",
    "REDIS_CLAIM_KEY",
    "REDIS_URL",
    "REPO",
    "UTC",
    "drift_events",
    "load_weeks",
    "mysql_databases",
    "pipeline_db",
    "postgres_databases",
    "postgres_engine",
    "redis_url",
    "registry",
    "run_dag",
    "claimed_redis_db",
    "clear_alerts",
    "service_unavailable",
    "tracker",
    "warehouse_url",
    "odd_churn_rows",
    "with_native_categories",
]


def with_native_categories(config):
    """The model config with `features.categorical_encoding: native`."""
    return config.model_copy(update={"features": config.features.model_copy(update={"categorical_encoding": "native"})})


def odd_churn_rows():
    """Two rows of the churn features a model never saw in training: nulls in every column and
    categories outside the demo's (`quarterly`, `crypto`, `mars`)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "tenure_months": [3, None],
            "monthly_charges": [None, 80.0],
            "support_tickets_90d": [None, 1.0],
            "contract": ["quarterly", None],
            "payment_method": [None, "crypto"],
            "region": ["mars", "north"],
        }
    )


def service_unavailable(reason: str) -> None:
    """Skip locally, fail in CI: with CI=true a missing service is a broken environment."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required service unavailable under CI=true: {reason}")
    pytest.skip(reason)


def redis_url(db: int, server: str = REDIS_URL) -> str:
    """The Redis server's URL with database number `db`, so concurrent users of one server keep apart."""
    return urlsplit(server)._replace(path=f"/{db}").geturl()


# The key that marks a database of the test Redis as taken, and how long a claim outlives a crash
# that skipped its release (longer than any test module runs).
REDIS_CLAIM_KEY = "retraining-tests:claimed-by"
_CLAIM_TTL_S = 6 * 3600
# Only while the claim is still ours (checked and done in one step, a Lua script): give a claim
# back, or empty the database we used. Another session's keys are never touched.
_GIVE_BACK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('FLUSHDB') return 1 end return 0"


@contextmanager
def claimed_redis_db(owner: str, server: str = REDIS_URL) -> Iterator[int]:
    """A database of the test Redis (1..15) that nothing else uses while the block runs.

    Claimed with an atomic SET NX of REDIS_CLAIM_KEY, so two sessions (two xdist workers, two
    checkouts on one server) never take the same one; kept only when that key is all the database
    holds, so a database some other program fills is never taken. Emptied and released on exit."""
    import redis

    token = f"{owner}:{os.getpid()}:{uuid.uuid4().hex}"
    for db in range(1, 16):
        client = redis.Redis.from_url(redis_url(db, server), socket_timeout=10)
        try:
            claimed = client.set(REDIS_CLAIM_KEY, token, nx=True, ex=_CLAIM_TTL_S)
        except redis.ResponseError:  # a server configured with fewer databases
            break
        if not claimed:
            continue
        if client.dbsize() != 1:  # someone else's keys: give the claim back, leave their data alone
            client.eval(_GIVE_BACK, 1, REDIS_CLAIM_KEY, token)
            continue
        try:
            yield db
        finally:
            client.eval(_RELEASE, 1, REDIS_CLAIM_KEY, token)
        return
    raise RuntimeError(
        f"no free database on the test Redis {server}: each of 1..15 is claimed or holds other keys. "
        "Flush one you know is unused (redis-cli -n <db> flushdb) or point RETRAINING_TEST_REDIS_URL elsewhere"
    )


def postgres_engine():
    import sqlalchemy as sa

    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def postgres_databases(*names: str, drop: bool = False) -> None:
    """Create (or drop, with their connections) databases on the local server."""
    import sqlalchemy as sa

    engine = postgres_engine()
    with engine.connect() as conn:
        for name in names:
            verb = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"'
            conn.execute(sa.text(verb))
    engine.dispose()


@contextmanager
def fresh_postgres_databases(*prefixes: str) -> Iterator[list[str]]:
    """A uniquely named database per prefix on the local server (their admin URLs), dropped after;
    no server is a failure under CI=true, else a skip."""
    from sqlalchemy.engine import make_url

    names = [f"{prefix}_{uuid.uuid4().hex[:10]}" for prefix in prefixes]
    try:
        postgres_databases(*names)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no Postgres here
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    try:
        yield [make_url(PG_ADMIN_URL).set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        postgres_databases(*names, drop=True)


@contextmanager
def select_only_role(database_url: str, table: str, password: str | None = None) -> Iterator[str]:
    """A login role that may SELECT `table` of the database and nothing else (no CREATE in its
    schema); dropped after."""
    import sqlalchemy as sa

    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin, owner = postgres_engine(), sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            secret = f" PASSWORD '{password}'" if password else ""
            conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN{secret}'))
        with owner.connect() as conn:
            conn.execute(sa.text(f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, "{role}"'))
            conn.execute(sa.text(f'GRANT SELECT ON {table} TO "{role}"'))
        yield role
    finally:
        with owner.connect() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON {table} FROM "{role}"'))
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        owner.dispose()
        admin.dispose()


def mysql_databases(*names: str, drop: bool = False) -> None:
    """Create (or drop) databases on the local MariaDB/MySQL server."""
    import sqlalchemy as sa

    engine = sa.create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name in names:
                verb = f"DROP DATABASE IF EXISTS `{name}`" if drop else f"CREATE DATABASE `{name}`"
                conn.execute(sa.text(verb))
    finally:
        engine.dispose()


@contextmanager
def fresh_mysql_database(prefix: str) -> Iterator[str]:
    """A uniquely named database on the local MariaDB/MySQL server (its admin URL), dropped after;
    no server is a failure under CI=true, else a skip."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        mysql_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no MariaDB here
        service_unavailable(f"MariaDB at {MYSQL_ADMIN_URL}: {exc}")
    try:
        yield make_url(MYSQL_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        mysql_databases(name, drop=True)


def warehouse_url() -> str:
    from include.retraining.common import load_settings

    return os.environ.get("AIRFLOW_CONN_WAREHOUSE") or load_settings().warehouse_default_url


def pipeline_db():
    """The database of the pipeline's own tables (promotion log, monitoring, predictions) in the
    test's environment, as the runs resolve it: `AIRFLOW_CONN_RETRAINING_DB`; beside the embedded
    warehouse, its own file; else the warehouse's."""
    from include.retraining.common import load_settings
    from include.retraining.warehouse import Database

    if os.environ.get("AIRFLOW_CONN_RETRAINING_DB"):
        return Database(os.environ["AIRFLOW_CONN_RETRAINING_DB"])
    settings = load_settings()
    url = warehouse_url()
    return Database(settings.pipeline_default_url if url == settings.warehouse_default_url else url)


def clear_alerts() -> None:
    """Empty the alert outbox the runs of the test's environment write (`alert_outbox`)."""
    import sqlalchemy as sa

    from include.orchestration.alerting import alert_outbox
    from include.retraining.tables import ALERT_OUTBOX_TABLE

    db = alert_outbox().db
    if db.has_table(ALERT_OUTBOX_TABLE):
        with db.engine() as engine, engine.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {db.quote(ALERT_OUTBOX_TABLE)}"))


def tracker(settings=None):
    """The MLflow adapter as the pipeline builds it (the project's trusted types), on `settings`
    or the test's environment."""
    from include.retraining.common import load_settings
    from include.retraining.learning import SKOPS_TRUSTED_TYPES
    from include.retraining.tracking import Tracker

    return Tracker(settings or load_settings(), trusted_types=SKOPS_TRUSTED_TYPES)


def registry(name: str = "churn", settings=None):
    """The registry adapter of one registered model, as the pipeline builds it."""
    from include.retraining.tracking import Registry

    return Registry(tracker(settings), name)


# A cron that fires only on 29 February (next: 2028): a stack's retrain and monitor DAGs, unpaused,
# make no run of their own on the real clock, only the runs a test starts (and those these cause).
# With the shipped crons the scheduler starts each DAG's latest scheduled run at once: tasks over
# today's empty windows that fail or skip, taking the cores from the runs the test waits for.
QUIET_CRON = "0 3 29 2 *"


def quiet_model_file(config: dict) -> dict:
    """A model file's settings with the retrain's and the monitor's crons on QUIET_CRON. Scoring
    keeps its own: its grid is the interval a run started by the champion event scores."""
    return {**config, "schedule": QUIET_CRON, "monitor": {**config["monitor"], "schedule": QUIET_CRON}}


def load_weeks(start: datetime, weeks: int, rows_per_week: int = 900, seed: int = 11, world=None) -> None:
    """Write `weeks` weekly partitions of demo churn data into the test's warehouse."""
    from demo.churn_data import STABLE, TABLE, generate_snapshots, load_window

    for week in range(weeks):
        begin = start + timedelta(days=7 * week)
        frame = generate_snapshots(rows_per_week, begin, begin + timedelta(days=7), seed=seed, world=world or STABLE)
        load_window(warehouse_url(), TABLE, frame, begin, begin + timedelta(days=7))


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
