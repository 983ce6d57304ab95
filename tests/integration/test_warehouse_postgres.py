"""The warehouse adapter on a real Postgres schema: numeric(p,s), integer with nulls, boolean,
text, and a timestamp column of each kind, in a database whose time zone is not UTC.

Windows must be exact in UTC, types plain (floats, naive UTC timestamps), the retrain extract and
the monitor's window read must work on them, and GX validation of such a window must pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.common import load_settings
from include.retraining.config import ModelConfig
from include.retraining.learning import validate_frame
from include.retraining.warehouse import Warehouse, WarehouseError
from tests.support import PG_ADMIN_URL, postgres_databases, postgres_engine, service_unavailable

pytestmark = pytest.mark.integration

FIRST = datetime(2026, 2, 1, 1, tzinfo=UTC)
HOURS = 72
END = datetime(2026, 2, 3, tzinfo=UTC)  # a monitoring window of one day: (02-02 00:00Z, 02-03 00:00Z]
KINDS = {"timestamptz": "at_tz", "timestamp": "at_naive", "date": "on_day"}


def _rows() -> list[tuple]:
    rows = []
    for i in range(HOURS):
        at = FIRST + timedelta(hours=i)
        rows.append(
            (
                i,
                at,
                at.replace(tzinfo=None),
                at.date(),
                f"{20 + i % 50}.{i % 100:02d}",  # numeric(10,2)
                None if i % 7 == 0 else i % 60,  # integer with nulls
                i % 3 == 0,  # boolean
                ["month_to_month", "one_year", "two_year"][i % 3],  # text
                i % 2 == 0,  # boolean target
            )
        )
    return rows


@pytest.fixture(scope="module")
def typed_warehouse() -> Iterator[str]:
    """A database in America/New_York holding one table of every type the models read."""
    name = f"wh_types_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means it is not there
        service_unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    import sqlalchemy as sa

    with postgres_engine().connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone = 'America/New_York'"))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE typed_rows (customer_id integer, at_tz timestamptz, at_naive timestamp, on_day date, "
                "monthly_charges numeric(10,2), tenure_months integer, paperless boolean, contract text, "
                "churned boolean)"
            )
        )
        conn.exec_driver_sql("INSERT INTO typed_rows VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", _rows())
    engine.dispose()
    yield url
    postgres_databases(name, drop=True)


def _config(timestamp_column: str, **source: object) -> ModelConfig:
    return ModelConfig(
        name="typed",
        task="classification",
        source={"table": "typed_rows", "timestamp_column": timestamp_column, "id_column": "customer_id", **source},
        target="churned",
        features={"numeric": ["monthly_charges", "tenure_months", "paperless"], "categorical": ["contract"]},
        training={"window_days": 1, "min_rows": 10},
        validation={
            "ranges": {"monthly_charges": [0, 100]},
            "allowed_categories": {"contract": ["month_to_month", "one_year", "two_year"]},
        },
        monitor={"window_days": 1, "min_rows": 10},
    )


def _expected_ids(kind: str) -> list[int]:
    def key(i: int):
        at = FIRST + timedelta(hours=i)
        return datetime.combine(at.date(), datetime.min.time(), UTC) if kind == "date" else at

    return [i for i in range(HOURS) if END - timedelta(days=1) < key(i) <= END]


@pytest.mark.parametrize("kind", list(KINDS))
def test_window_is_exact_in_utc_and_types_are_plain(typed_warehouse: str, kind: str, tmp_path: Path) -> None:
    config = _config(KINDS[kind])
    columns = ["customer_id", config.source.timestamp_column, config.target, *config.features.columns]

    frame = Warehouse(typed_warehouse).read_window(config.source, columns, END - timedelta(days=1), END, model="typed")

    assert sorted(frame["customer_id"]) == _expected_ids(kind)
    ts = frame[config.source.timestamp_column]
    assert str(ts.dtype).startswith("datetime64") and ts.dt.tz is None
    assert ts.min() > (END - timedelta(days=1)).replace(tzinfo=None) and ts.max() <= END.replace(tzinfo=None)
    assert {frame[c].dtype.kind for c in ["monthly_charges", "tenure_months", "paperless", "churned"]} == {"f"}
    assert frame["tenure_months"].isna().any() and set(frame["paperless"].dropna()) <= {0.0, 1.0}
    report = validate_frame(frame, config, None, tmp_path)
    assert report.success, report.summary()


def test_retrain_extract_and_monitor_window_read_the_typed_table(
    typed_warehouse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.retraining.monitor import Reference, current
    from include.retraining.retrain import extract
    from include.retraining.runs import RunInfo, StepContext

    monkeypatch.setenv("RETRAINING_DATA_DIR", str(tmp_path))
    config, settings = _config("at_tz"), load_settings()
    run = RunInfo(dag_id="retrain_typed", run_id="manual__1", window_end=END)

    ctx = StepContext.create(config, settings, run, Warehouse(typed_warehouse))
    extracted = extract(ctx)
    champion = Reference(version="1", run_id="r", snapshot="", holdout_metric=None, features=config.features.columns)
    window = current(ctx, champion)

    assert extracted.rows == len(_expected_ids("timestamptz")) == window.rows_current


def test_a_slow_read_stops_at_the_statement_timeout_with_the_fix(typed_warehouse: str) -> None:
    config = _config(
        "at_tz", table=None, query="select *, pg_sleep(0.2) as slow from typed_rows", statement_timeout_seconds=1
    )

    with pytest.raises(WarehouseError, match=r"model 'typed'.*statement_timeout_seconds=1; raise it"):
        Warehouse(typed_warehouse).read_window(
            config.source, ["at_tz", "slow"], FIRST - timedelta(days=1), END, model="typed"
        )


def test_reads_run_read_only(typed_warehouse: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(typed_warehouse)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SEQUENCE IF NOT EXISTS tick"))
    engine.dispose()
    config = _config("at_tz", table=None, query="select *, nextval('tick') as n from typed_rows")

    with pytest.raises(WarehouseError, match=r"read-only session; `source.query` must only read"):
        Warehouse(typed_warehouse).read_window(config.source, ["at_tz", "n"], FIRST, END, model="typed")


def test_an_airflow_connection_with_a_url_hostile_password_and_tls_extras_reads_the_window(
    typed_warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login role whose password holds `@ : / #`, defined as Airflow's JSON connection with
    `sslmode` in its extra: both readers (SQLAlchemy, and ADBC's streamed batches) reach the
    typed database as that role. On main the password was pasted into the URL unescaped."""
    import json

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from include.orchestration.runtime import source_warehouse

    role, password = f"etl_{uuid.uuid4().hex[:8]}", "p@ss:w/rd#1"
    with postgres_engine().connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
    admin = make_url(typed_warehouse)
    typed_db = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with typed_db.connect() as conn:
            conn.execute(sa.text(f'GRANT SELECT ON typed_rows TO "{role}"'))
        connection = {
            "conn_type": "postgres",
            "login": role,
            "password": password,
            "host": admin.host,
            "port": admin.port or 5432,
            "schema": admin.database,
            "extra": {"sslmode": "disable", "application_name": "retraining-test"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_WH_HOSTILE", json.dumps(connection))
        warehouse = source_warehouse("wh_hostile", load_settings())
        config = _config("at_tz")
        columns = ["customer_id", "at_tz", config.target, *config.features.columns]

        frame = warehouse.read_window(config.source, columns, END - timedelta(days=1), END, model="typed")
        with warehouse.window_batches(config.source, columns, END - timedelta(days=1), END, model="typed") as batches:
            streamed = batches.read_all().num_rows
        with warehouse.engine(read_only=True) as engine, engine.connect() as conn:
            who, app = conn.execute(sa.text("SELECT current_user, current_setting('application_name')")).one()

        assert sorted(frame["customer_id"]) == _expected_ids("at_tz") and streamed == len(frame)
        assert (who, app) == (role, "retraining-test")
    finally:
        with typed_db.connect() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON typed_rows FROM "{role}"'))
        typed_db.dispose()
        with postgres_engine().connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
