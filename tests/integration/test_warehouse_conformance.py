"""The warehouse conformance suite: what the pipeline needs of a source database, checked on a
table the suite writes there itself (`retraining_conformance_<hex>`, dropped afterwards).

`make test-warehouse URL=<SQLAlchemy URL> [SCHEMA=<scratch schema>]` runs it against your own
warehouse (Snowflake, BigQuery, Redshift, Databricks, ... once their dialect is installed:
requirements-warehouses.txt); its account needs CREATE TABLE in that schema for the suite's table
only. Without a URL (as in `make test`) it runs on the four engines every machine here has:
PostgreSQL, MariaDB, DuckDB and SQLite. docs/operations.md ("Your warehouse") says what each
check means when it fails.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include.retraining.config import ModelConfig
from include.retraining.learning import validate_frame
from include.retraining.preflight import Status, source_findings
from include.retraining.warehouse import Database, Warehouse, WarehouseError, python_hash, sample_threshold
from tests.support import fresh_mysql_database, fresh_postgres_databases

pytestmark = pytest.mark.integration

URL_VARIABLE, SCHEMA_VARIABLE = "RETRAINING_CONFORMANCE_URL", "RETRAINING_CONFORMANCE_SCHEMA"
FIRST = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
START, END = FIRST + DAY, FIRST + 2 * DAY  # the window read: (Mar 2 00:00Z, Mar 3 00:00Z]
PER_HOUR = 120  # 2,880 rows a day: a window large enough to sample
SAMPLE_ROWS = 1000
CONTRACTS = ("month_to_month", "one_year", "two_year")


def _rows() -> list[dict]:
    """Three days, a row every 30 s; a row exactly at each window
    bound, one (id, time) pair written twice on the third day, and a null in every third tenure."""
    rows = []
    for hour in range(72):
        for k in range(PER_HOUR):
            i = hour * PER_HOUR + k
            at = FIRST + timedelta(hours=hour, seconds=30 * k)
            rows.append(
                {
                    "customer_id": f"C{i:05d}",
                    "event_at": at.replace(tzinfo=None),
                    "monthly_charges": f"{20 + i % 50}.{i % 100:02d}",
                    "tenure_months": None if i % 3 == 0 else i % 60,
                    "paperless": i % 4 == 0,
                    "contract": CONTRACTS[i % 3],
                    "churned": i % 2,
                }
            )
    return [*rows, dict(rows[-1])]  # the repeated pair, on the third day


def _table(name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("customer_id", sa.String(16), nullable=False),
        sa.Column("event_at", sa.DateTime(), nullable=False),
        sa.Column("monthly_charges", sa.Numeric(10, 2)),
        sa.Column("tenure_months", sa.Integer()),
        sa.Column("paperless", sa.Boolean()),
        sa.Column("contract", sa.String(32)),
        sa.Column("churned", sa.Integer(), nullable=False),
    )


@contextmanager
def _warehouse(name: str, folder: Path) -> Iterator[str]:
    """The URL of the warehouse under test: yours, or a fresh database of this machine's engine."""
    if name == "yours":
        yield os.environ[URL_VARIABLE]
    elif name in ("sqlite", "duckdb"):
        yield f"{name}:///{folder / f'warehouse.{name}'}"
    elif name == "postgres":
        with fresh_postgres_databases("conformance") as (url,):
            yield url
    else:
        with fresh_mysql_database("conformance") as url:
            yield url


ENGINES = ["yours"] if os.environ.get(URL_VARIABLE) else ["sqlite", "duckdb", "postgres", "mariadb"]


@pytest.fixture(scope="module", params=ENGINES)
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The suite's table written into the warehouse, its model config and the rows as written."""
    with _warehouse(request.param, tmp_path_factory.mktemp("conformance")) as url:
        table = _table(f"retraining_conformance_{uuid.uuid4().hex[:8]}", os.environ.get(SCHEMA_VARIABLE) or None)
        rows = _rows()
        engine = sa.create_engine(url)
        try:
            table.create(engine)
            with engine.begin() as conn:
                conn.execute(table.insert(), rows)
            engine.dispose()  # DuckDB: a file open read-write here refuses the pipeline's read-only opens
            yield {"url": url, "config": _config(table), "rows": pd.DataFrame(rows)}
        finally:
            table.drop(engine, checkfirst=True)
            engine.dispose()


def _config(table: sa.Table) -> ModelConfig:
    return ModelConfig(
        name="conformance",
        task="classification",
        source={"table": table.fullname, "timestamp_column": "event_at", "id_column": "customer_id"},
        target="churned",
        features={"numeric": ["monthly_charges", "tenure_months", "paperless"], "categorical": ["contract"]},
        training={"window_days": 1, "min_rows": 10, "sample_rows": SAMPLE_ROWS},
        validation={"ranges": {"monthly_charges": [0, 100]}, "allowed_categories": {"contract": list(CONTRACTS)}},
        monitor={"window_days": 1, "min_rows": 10},
    )


def _expected(rows: pd.DataFrame, start: datetime = START, end: datetime = END) -> pd.DataFrame:
    at = rows["event_at"]
    return rows[(at > start.replace(tzinfo=None)) & (at <= end.replace(tzinfo=None))]


COLUMNS = ["customer_id", "event_at", "monthly_charges", "tenure_months", "paperless", "contract", "churned"]


def test_the_columns_and_the_timestamp_column_are_recognised(source: dict) -> None:
    warehouse, config = Warehouse(source["url"]), source["config"]

    assert set(COLUMNS) <= warehouse.source_columns(config.source, model=config.name)
    warehouse.check_timestamps(config)  # raises WarehouseError when the column is not a timestamp


def test_a_window_is_exact_in_utc_and_its_types_are_plain(source: dict) -> None:
    frame = Warehouse(source["url"]).read_window(source["config"].source, COLUMNS, START, END, model="conformance")
    expected = _expected(source["rows"])

    assert frame["customer_id"].tolist() == expected["customer_id"].tolist()  # the row at END, not the one at START
    at = frame["event_at"]
    assert str(at.dtype).startswith("datetime64") and at.dt.tz is None
    assert at.max() == END.replace(tzinfo=None) and at.min() > START.replace(tzinfo=None)
    assert frame["monthly_charges"].dtype.kind == "f"  # a decimal comes back a float, never text or Decimal
    assert {frame[c].dtype.kind for c in ("tenure_months", "paperless", "churned")} <= {"i", "f"}
    assert frame["monthly_charges"].tolist() == pytest.approx(expected["monthly_charges"].astype(float).tolist())
    assert frame["tenure_months"].isna().sum() == expected["tenure_months"].isna().sum()
    assert set(frame["contract"]) == set(CONTRACTS)


def test_streamed_batches_hold_the_window_s_rows(source: dict) -> None:
    warehouse, config = Warehouse(source["url"]), source["config"]

    with warehouse.window_batches(config.source, COLUMNS, START, END, model=config.name) as reader:
        streamed = reader.read_all().to_pandas()

    assert streamed["customer_id"].tolist() == _expected(source["rows"])["customer_id"].tolist()


def test_the_warehouse_counts_rows_and_repeated_keys_in_sql(source: dict) -> None:
    warehouse, config, rows = Warehouse(source["url"]), source["config"], source["rows"]

    assert warehouse.window_rows(config, START, END) == len(_expected(rows)) == 24 * PER_HOUR
    assert warehouse.repeated_keys(config, START, END) == 0
    assert warehouse.repeated_keys(config, END, END + DAY) == 1


def test_the_whole_window_aggregates_match_the_rows(source: dict) -> None:
    aggregates = Warehouse(source["url"]).window_aggregates(source["config"], START, END)
    expected = _expected(source["rows"])
    charges = expected["monthly_charges"].astype(float)

    assert aggregates.rows == len(expected)
    assert aggregates.nulls["tenure_months"] == expected["tenure_months"].isna().sum()
    assert aggregates.minimum["monthly_charges"] == pytest.approx(charges.min())
    assert aggregates.maximum["monthly_charges"] == pytest.approx(charges.max())
    assert aggregates.categories["contract"] == expected["contract"].value_counts().to_dict()


def test_the_training_sample_is_stable_about_its_size_and_named_when_unsupported(source: dict) -> None:
    warehouse, config = Warehouse(source["url"]), source["config"]
    if not warehouse.can_sample:
        with pytest.raises(WarehouseError, match="training.sample_rows"):
            warehouse.read_window_sample(config, COLUMNS, START, END)
        return

    first, rows = warehouse.read_window_sample(config, COLUMNS, START, END)
    again, _ = warehouse.read_window_sample(config, COLUMNS, START, END)

    assert rows == 24 * PER_HOUR and first["customer_id"].tolist() == again["customer_id"].tolist()
    assert 0.8 * SAMPLE_ROWS <= len(first) <= 1.2 * SAMPLE_ROWS
    hashed = python_hash(warehouse.backend)
    if hashed is not None:  # a standard hash: the served predictions follow it from another database
        below = sample_threshold(rows, config.training.sample_rows)
        whole = _expected(source["rows"])["customer_id"]
        assert set(first["customer_id"]) == {i for i in whole if hashed(i) < below}


def test_the_monitor_reads_a_large_window_as_a_sample(source: dict) -> None:
    warehouse, config = Warehouse(source["url"]), source["config"]

    window = warehouse.read_monitor_window(config, COLUMNS, START, END, max_rows=SAMPLE_ROWS)

    assert window.rows == 24 * PER_HOUR
    if warehouse.can_sample:
        assert window.sampled and 0.8 * SAMPLE_ROWS <= len(window.frame) <= 1.2 * SAMPLE_ROWS
    else:  # SQLite: the whole window, as documented
        assert not window.sampled and len(window.frame) == window.rows


def test_the_window_passes_validation(source: dict, tmp_path: Path) -> None:
    config = source["config"]
    frame = Warehouse(source["url"]).read_window(config.source, COLUMNS, START, END, model=config.name)

    report = validate_frame(frame, config, None, tmp_path)

    assert report.success, report.summary()


def test_reads_run_in_read_only_sessions(source: dict) -> None:
    warehouse = Warehouse(source["url"])
    written = "retraining_conformance_written"

    try:
        with warehouse.engine(read_only=True) as engine, engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {written} (x INT)"))
    except sa.exc.DBAPIError as exc:
        assert re.search("(?i)read.only|readonly|query_only|attempt to write", str(exc.orig)), exc
    else:
        with warehouse.engine() as engine, engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {written}"))
        pytest.fail(
            f"the pipeline cannot open a read-only session on {warehouse.backend}: its reads are only as safe "
            "as the source account's rights; give that account SELECT on the source alone (docs/operations.md)"
        )

    assert not warehouse.has_table(written)


def test_the_preflight_finds_no_problem(source: dict, tmp_path: Path) -> None:
    pipeline = Database(f"sqlite:///{tmp_path / 'pipeline.db'}")

    findings = source_findings(source["config"], Warehouse(source["url"]), END, pipeline)

    assert not [f for f in findings if f.status is Status.PROBLEM], findings
