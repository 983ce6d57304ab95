"""What the warehouse hands back, made plain (Arrow and pandas, no database), and the refusals
that turn SQL the warehouse rejects into a named configuration error."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pymysql
import pytest

from include.retraining.config import SourceConfig, load_model_config
from include.retraining.warehouse import (
    aware_utc,
    id_text,
    naive_utc,
    plain_arrow,
    plain_frame,
    sqlite_state,
    sqlstate,
)
from include.retraining.warehouse.types import plain_batch, refusal, timestamptz_literal

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
NUMERIC = pa.opaque(pa.string(), "numeric", "PostgreSQL")


def test_postgres_numeric_boolean_zones_and_dates_become_plain() -> None:
    table = pa.table(
        {
            "money": pa.ExtensionArray.from_storage(NUMERIC, pa.array(["21.00", None, "NaN", "1e3"])),
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


def test_a_streamed_batch_is_made_plain_as_a_whole_table_is() -> None:
    batch = pa.record_batch(
        {
            "money": pa.ExtensionArray.from_storage(NUMERIC, pa.array(["1.50", None])),
            "at": pa.array([datetime(2026, 2, 1, 5, tzinfo=UTC)] * 2, type=pa.timestamp("us", tz="UTC")),
        }
    )

    plain = plain_batch(batch)

    assert plain.schema == plain_arrow(pa.Table.from_batches([batch])).schema
    assert plain.schema.field("money").type == pa.float64() and plain.schema.field("at").type == pa.timestamp("us")
    assert plain.column("money").to_pylist() == [1.5, None]


def test_zoned_text_timestamps_become_naive_utc() -> None:
    frame = plain_frame(pd.DataFrame({"ts": ["2026-02-01T00:00:00-05:00"]}), "ts")
    assert frame["ts"].iloc[0] == pd.Timestamp("2026-02-01 05:00")


def test_bounds_become_naive_or_aware_utc_and_naive_input_is_taken_as_utc() -> None:
    paris = datetime(2026, 3, 1, 23, tzinfo=timezone(timedelta(hours=1)))
    assert naive_utc(paris) == datetime(2026, 3, 1, 22) and naive_utc(datetime(2026, 3, 1)) == datetime(2026, 3, 1)
    assert aware_utc(paris) == datetime(2026, 3, 1, 22, tzinfo=UTC) and aware_utc(paris).tzinfo == UTC
    assert aware_utc(datetime(2026, 3, 1)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_only_a_datetime_becomes_a_timestamptz_literal() -> None:
    moment = datetime(2026, 3, 1, 23, tzinfo=timezone(timedelta(hours=1)))
    assert timestamptz_literal(moment) == "'2026-03-01T22:00:00+00:00'::timestamptz"
    with pytest.raises(TypeError, match="must be a datetime, not str"):
        timestamptz_literal("2026-03-01'; drop table t; --")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sqlstate", "fix"),
    [
        ("57014", "statement_timeout_seconds=900"),
        ("25006", "must only read"),
        ("42703", "a column is missing"),
        ("42P01", "a table is missing"),
        ("0A000", "a single read-only SELECT"),
    ],
)
def test_refusals_name_the_model_and_the_fix(sqlstate: str, fix: str) -> None:
    error = refusal(RuntimeError("ERROR: something\nQuery was: ..."), sqlstate, "churn", CONFIG.source)
    assert error is not None and "model 'churn'" in str(error) and fix in str(error)
    assert "customer_snapshots" in str(error) and "Query was" not in str(error)


def test_a_refusal_of_a_query_source_points_at_the_query() -> None:
    source = SourceConfig(query="select * from t", timestamp_column="ts")
    error = refusal(RuntimeError("no such column: y"), "42703", "churn", source)
    assert error is not None and "the `source.query`" in str(error) and "`source.query` in the model file" in str(error)


@pytest.mark.parametrize("sqlstate", [None, "08006", "57P01", "53300"])
def test_connection_and_server_faults_stay_retryable(sqlstate: str | None) -> None:
    assert refusal(RuntimeError("connection refused"), sqlstate, "churn", CONFIG.source) is None


@pytest.mark.parametrize(
    ("message", "state"),
    [
        ("no such column: nope", "42703"),
        ("no such table: t", "42P01"),
        ('near "selec": syntax error', "42601"),
        ("attempt to write a readonly database", "25006"),
        ("database is locked", None),
    ],
)
def test_sqlite_refusals_read_as_the_postgres_state(message: str, state: str | None) -> None:
    assert sqlite_state(message) == state


def test_a_data_exception_keeps_the_value_it_quotes_out_of_the_message() -> None:
    """22P02 quotes the text PostgreSQL could not read; the refusal reaches alerts without it."""
    driver = RuntimeError('ERROR:  invalid input syntax for type integer: "Jane Roe"\nQuery was: ...')

    message = str(refusal(driver, "22P02", "churn", CONFIG.source))

    assert "Jane Roe" not in message and "invalid input syntax for type integer: <value>" in message
    assert "model 'churn'" in message and "fix `source.table` in the model file" in message


def test_ids_become_text_without_a_float_suffix() -> None:
    assert id_text(pd.Series([7.0, 12.0])).tolist() == ["7", "12"]
    assert id_text(pd.Series(["c-1", "c-2"])).tolist() == ["c-1", "c-2"]
    assert id_text(pd.Series([3, 4])).tolist() == ["3", "4"]


def test_decimals_booleans_and_uuids_read_through_sqlalchemy_become_plain() -> None:
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    frame = pd.DataFrame(
        {
            "price": [Decimal("21.50"), None, Decimal("3")],  # MySQL/MariaDB and DuckDB DECIMAL
            "flag": [True, False, True],  # DuckDB BOOLEAN
            "key": [key, None, key],  # DuckDB UUID
            "name": ["a", "b", None],
            "ts": pd.to_datetime(["2026-03-01 05:00:00+05:00"] * 3),  # DuckDB TIMESTAMPTZ
        }
    )

    plain = plain_frame(frame, "ts")

    assert plain["price"].dtype == "float64" and plain["price"].iloc[0] == 21.5 and pd.isna(plain["price"].iloc[1])
    assert plain["flag"].tolist() == [1.0, 0.0, 1.0]
    assert plain["key"].tolist() == [str(key), None, str(key)] and plain["name"].tolist() == ["a", "b", None]
    assert plain["ts"].dt.tz is None and plain["ts"].iloc[0] == pd.Timestamp("2026-03-01 00:00:00")


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (pymysql.err.OperationalError(1054, "Unknown column 'x' in 'field list'"), "42703"),
        (pymysql.err.ProgrammingError(1146, "Table 'w.t' doesn't exist"), "42P01"),
        (pymysql.err.InternalError(1792, "Cannot execute statement in a READ ONLY transaction"), "25006"),
        (pymysql.err.OperationalError(1969, "Query execution was interrupted (max_statement_time exceeded)"), "57014"),
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), None),
        (duckdb.BinderException('Referenced column "x" not found'), "42703"),
        (duckdb.CatalogException("Table with name t does not exist!"), "42P01"),
        (duckdb.InvalidInputException("Cannot execute statement ... attached in read-only mode!"), "25006"),
        (duckdb.IOException("Could not set lock on file"), None),
    ],
)
def test_mysql_and_duckdb_refusals_read_as_the_postgres_state(error: Exception, state: str | None) -> None:
    assert sqlstate(error) == state
