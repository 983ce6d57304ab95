"""The warehouse adapter on SQLite and pure Arrow/pandas: queries, refusals, types, the monitoring table.
Postgres types, zones, timeouts and read-only sessions: tests/integration/test_warehouse_postgres.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy.dialects import postgresql, sqlite

from demo.churn_data import generate_snapshots
from include.retraining.config.model import SourceConfig, load_model_config
from include.retraining.tables.monitoring import last_trigger_at, read_monitoring, replace_monitoring_row
from include.retraining.warehouse.reads import (
    WarehouseError,
    libpq_uri,
    open_engine,
    quote_name,
    read_window,
    render_url,
    replace_window,
    url_password,
    window_query,
)
from include.retraining.warehouse.types import plain_arrow, plain_frame, refusal, timestamptz_literal

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
START = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
END = datetime(2026, 3, 2, 3, tzinfo=UTC)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    week = generate_snapshots(200, START, START + WEEK, seed=1)
    replace_window(url, "customer_snapshots", week, "snapshot_at", START, START + WEEK)
    return url


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()])
def test_window_query_quotes_identifiers_and_binds_values(dialect) -> None:
    source = SourceConfig(table="analytics.customer_snapshots", timestamp_column="snapshot_at", id_column="customer_id")
    query = window_query(source, ["customer_id", "select"], END - timedelta(days=1), END, dialect)
    assert '"select"' in query.sql  # a reserved word as a column name still works
    assert '"analytics"."customer_snapshots"' in query.sql
    assert ":window_start" in query.sql and END.isoformat() not in query.sql
    assert query.params["window_end"] == END.replace(tzinfo=None)


def test_adbc_bounds_are_bound_as_aware_utc() -> None:
    source = SourceConfig(table="t", timestamp_column="ts")
    end = datetime(2026, 3, 1, 22, tzinfo=UTC).astimezone()  # any zone in, UTC out
    query = window_query(source, ["ts"], end - WEEK, end, postgresql.dialect(), paramstyle="numeric")
    assert '"ts" > $1 AND "ts" <= $2' in query.sql
    assert query.params["window_end"] == end and query.params["window_end"].tzinfo == UTC


def test_streamed_reads_write_the_bounds_as_utc_timestamptz_literals_and_only_datetimes() -> None:
    source = SourceConfig(table="t", timestamp_column="ts")
    end = datetime(2026, 3, 1, 22, 0, 0, 5, tzinfo=UTC).astimezone()  # any zone in, UTC out, microseconds kept
    query = window_query(source, ["ts"], end - WEEK, end, postgresql.dialect(), paramstyle="inline")
    assert query.params == {}
    assert "\"ts\" <= '2026-03-01T22:00:00.000005+00:00'::timestamptz ORDER BY" in query.sql
    with pytest.raises(TypeError, match="must be a datetime, not str"):
        timestamptz_literal("2026-03-01'; drop table t; --")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a; drop table x", "a b", "1abc", 'a"b', "a.b.c.d"])
def test_unsafe_identifiers_are_refused(name: str) -> None:
    with pytest.raises(WarehouseError):
        quote_name(postgresql.dialect(), name)


def test_query_source_is_wrapped_on_lines_of_its_own() -> None:
    source = SourceConfig(query="select * from snapshots -- the whole table", timestamp_column="ts")
    query = window_query(source, ["ts", "y"], END - timedelta(days=1), END, sqlite.dialect())
    assert query.sql.startswith('SELECT "ts", "y" FROM (\nselect * from snapshots -- the whole table\n) AS source_rows')


def test_sqlite_window_is_half_open_and_reload_replaces(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    week = generate_snapshots(400, START, START + WEEK, seed=1)
    replace_window(url, "customer_snapshots", week, "snapshot_at", START, START + WEEK)
    replace_window(url, "customer_snapshots", week, "snapshot_at", START, START + WEEK)
    columns = ["customer_id", "snapshot_at", "churned", *CONFIG.features.columns]

    frame = read_window(url, CONFIG.source, columns, START, START + WEEK, model="churn")
    later = read_window(url, CONFIG.source, columns, START + WEEK, START + 2 * WEEK, model="churn")

    assert len(frame) == 400 and len(later) == 0
    assert frame["snapshot_at"].is_monotonic_increasing


def test_missing_column_is_named_with_the_model_and_the_fix(url: str) -> None:
    with pytest.raises(
        WarehouseError, match=r"model 'churn': table 'customer_snapshots' has no column\(s\) \['nope'\]"
    ):
        read_window(url, CONFIG.source, ["snapshot_at", "nope"], START, START + WEEK, model="churn")


def test_query_source_with_a_comment_and_colon_literals_reads_the_window(url: str) -> None:
    source = SourceConfig(
        query="select *, ':x' as tag from customer_snapshots where region <> ':north' -- all regions",
        timestamp_column="snapshot_at",
    )
    frame = read_window(url, source, ["snapshot_at", "tag", "region"], START, START + WEEK, model="churn")
    assert len(frame) == 200 and set(frame["tag"]) == {":x"}


def test_query_source_missing_column_names_model_column_and_fix(url: str) -> None:
    source = SourceConfig(query="select snapshot_at, churned from customer_snapshots", timestamp_column="snapshot_at")
    with pytest.raises(WarehouseError) as raised:
        read_window(url, source, ["snapshot_at", "churned", "tenure_months"], START, START + WEEK, model="churn")
    message = str(raised.value)
    assert "model 'churn'" in message and "['tenure_months']" in message and "source.query" in message
    assert "fix `features`, `target` or `source`" in message


def test_query_the_warehouse_refuses_is_a_named_error(url: str) -> None:
    source = SourceConfig(query="select * from no_such_table", timestamp_column="snapshot_at")
    with pytest.raises(
        WarehouseError, match=r"model 'churn': .*no such table.*a table is missing: check `source.query`"
    ):
        read_window(url, source, ["snapshot_at"], START, START + WEEK, model="churn")


def test_postgres_numeric_boolean_zones_and_dates_become_plain() -> None:
    numeric = pa.opaque(pa.string(), "numeric", "PostgreSQL")
    table = pa.table(
        {
            "money": pa.ExtensionArray.from_storage(numeric, pa.array(["21.00", None, "NaN", "1e3"])),
            "flag": pa.array([True, False, None, True]),
            "at": pa.array([datetime(2026, 2, 1, 5, tzinfo=UTC)] * 4, type=pa.timestamp("us", tz="UTC")),
            "day": pa.array([datetime(2026, 2, 1).date()] * 4, type=pa.date32()),
            "n": pa.array([1, None, 3, 4], type=pa.int32()),
        }
    )
    frame = plain_frame(plain_arrow(table).to_pandas(), "at")
    assert frame["money"].dtype == "float64" and frame["money"].iloc[0] == 21.0 and frame["money"].isna().sum() == 2
    assert frame["flag"].tolist()[:2] == [1.0, 0.0] and pd.isna(frame["flag"].iloc[2])
    assert frame["at"].iloc[0] == pd.Timestamp("2026-02-01 05:00") and frame["at"].dt.tz is None
    assert frame["day"].iloc[0] == pd.Timestamp("2026-02-01")
    assert frame["n"].dtype == "float64"


def test_zoned_text_timestamps_become_naive_utc() -> None:
    frame = plain_frame(pd.DataFrame({"ts": ["2026-02-01T00:00:00-05:00"]}), "ts")
    assert frame["ts"].iloc[0] == pd.Timestamp("2026-02-01 05:00")


@pytest.mark.parametrize(
    ("sqlstate", "fix"),
    [
        ("57014", "statement_timeout_seconds=900"),
        ("25006", "must only read"),
        ("42703", "a column is missing"),
        ("0A000", "a single read-only SELECT"),
    ],
)
def test_refusals_name_the_model_and_the_fix(sqlstate: str, fix: str) -> None:
    error = refusal(RuntimeError("ERROR: something\nQuery was: ..."), sqlstate, "churn", CONFIG.source)
    assert error is not None and "model 'churn'" in str(error) and fix in str(error)
    assert "customer_snapshots" in str(error) and "Query was" not in str(error)


@pytest.mark.parametrize("sqlstate", [None, "08006", "57P01", "53300"])
def test_connection_and_server_faults_stay_retryable(sqlstate: str | None) -> None:
    assert refusal(RuntimeError("connection refused"), sqlstate, "churn", CONFIG.source) is None


def test_monitoring_row_is_replaced_per_interval_and_feeds_the_cooldown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    assert read_monitoring(url, "churn").empty and last_trigger_at(url, "churn", END) is None
    row = {
        "model": "churn",
        "window_end": datetime(2026, 3, 1),
        "decision": "retrain",
        "metric_current": None,
        "performance_drop": None,
        "metric_holdout": 0.8,
    }

    replace_monitoring_row(url, row)
    replace_monitoring_row(url, {**row, "metric_holdout": 0.7})

    rows = read_monitoring(url, "churn")
    assert len(rows) == 1 and rows["metric_holdout"].iloc[0] == 0.7
    assert last_trigger_at(url, "churn", END) == datetime(2026, 3, 1, tzinfo=UTC)
    assert last_trigger_at(url, "churn", datetime(2026, 3, 1, tzinfo=UTC)) is None


def test_url_helpers_keep_and_expose_the_password() -> None:
    url = render_url("postgresql+psycopg2://user:s3cret@db:5432/warehouse")
    assert "s3cret" in url and url_password(url) == "s3cret" and url_password("sqlite:///x.db") is None


def test_the_password_is_masked_where_the_url_is_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.log import _secrets_masker

    from include.orchestration.runtime import warehouse_url
    from include.retraining.common.settings import load_settings

    monkeypatch.setenv("AIRFLOW_CONN_WH_MASKED", "postgresql+psycopg2://u:pw-7f3a9c@db:5432/w")

    url = warehouse_url("wh_masked", load_settings())

    assert "pw-7f3a9c" in url  # the URL itself connects...
    assert "pw-7f3a9c" not in str(_secrets_masker().redact(f"could not connect to {url}"))  # ...logs never show it


def test_adbc_sessions_are_read_only_utc_with_timeouts_and_keep_the_users_options() -> None:
    uri = libpq_uri("postgresql+psycopg2://u:p@db:5432/w?options=-c%20search_path%3Dmart&sslmode=require", 60)

    assert uri.startswith("postgresql://u:p@db:5432/w?") and "+" not in uri.split("?", 1)[1]  # libpq reads %20
    query = parse_qs(urlsplit(uri).query)
    assert query["sslmode"] == ["require"] and query["connect_timeout"] == ["15"]
    assert query["options"] == [
        "-c search_path=mart -c statement_timeout=60000 -c TimeZone=UTC -c default_transaction_read_only=on"
    ]


def test_sqlite_reads_cannot_write(url: str) -> None:
    import sqlalchemy as sa

    with (
        open_engine(url, read_only=True) as engine,
        engine.connect() as conn,
        pytest.raises(sa.exc.OperationalError, match="readonly|query_only"),
    ):
        conn.execute(sa.text("DELETE FROM customer_snapshots"))


@pytest.mark.parametrize("source", [CONFIG.source, SourceConfig(query="select 1 as ts", timestamp_column="ts")])
def test_an_unreachable_warehouse_stays_a_retryable_error_without_the_password(source: SourceConfig) -> None:
    url = "postgresql+psycopg2://reader:pw-41c9e0@127.0.0.1:9/warehouse"  # nothing listens on port 9

    with pytest.raises(Exception) as raised:  # any type but WarehouseError
        read_window(url, source, ["ts"], START, START + WEEK, model="churn")

    assert not isinstance(raised.value, WarehouseError), "a connection fault must be retried, not alerted as config"
    assert "pw-41c9e0" not in str(raised.value)
