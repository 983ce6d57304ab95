"""The SQL the warehouse reads are made of, as text: quoted names, a window's SELECT in each
parameter style, and the id-hash sample's condition and threshold. No database here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite

from include.retraining.config import SourceConfig
from include.retraining.warehouse import (
    HASH_SPACE,
    WarehouseError,
    cast_float,
    cast_text,
    hash_below,
    python_hash,
    quote_name,
    same_hash,
    sample_threshold,
    window_query,
)

pytestmark = pytest.mark.unit

WEEK = timedelta(days=7)
END = datetime(2026, 3, 2, 3, tzinfo=UTC)


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


def test_streamed_reads_write_the_bounds_as_utc_timestamptz_literals() -> None:
    source = SourceConfig(table="t", timestamp_column="ts")
    end = datetime(2026, 3, 1, 22, 0, 0, 5, tzinfo=UTC).astimezone()  # any zone in, UTC out, microseconds kept
    query = window_query(source, ["ts"], end - WEEK, end, postgresql.dialect(), paramstyle="inline")
    assert query.params == {}
    assert "\"ts\" <= '2026-03-01T22:00:00.000005+00:00'::timestamptz ORDER BY" in query.sql


def test_rows_are_ordered_by_time_then_id_and_columns_read_once() -> None:
    source = SourceConfig(table="t", timestamp_column="ts", id_column="id")
    query = window_query(source, ["id", "ts", "id"], END - WEEK, END, sqlite.dialect())
    assert query.sql.startswith('SELECT "id", "ts" FROM "t" WHERE') and query.sql.endswith('ORDER BY "ts", "id"')


@pytest.mark.parametrize("name", ["a; drop table x", "a b", "1abc", 'a"b', "a.b.c.d"])
def test_unsafe_identifiers_are_refused(name: str) -> None:
    with pytest.raises(WarehouseError):
        quote_name(postgresql.dialect(), name)


def test_query_source_is_wrapped_on_lines_of_its_own() -> None:
    source = SourceConfig(query="select * from snapshots -- the whole table", timestamp_column="ts")
    query = window_query(source, ["ts", "y"], END - timedelta(days=1), END, sqlite.dialect())
    assert query.sql.startswith('SELECT "ts", "y" FROM (\nselect * from snapshots -- the whole table\n) AS source_rows')


def test_colons_in_a_query_source_are_escaped_only_for_sqlalchemy_text() -> None:
    source = SourceConfig(query="select ':x' as tag, ts from t", timestamp_column="ts")
    named = window_query(source, ["ts"], END - WEEK, END, sqlite.dialect())
    numeric = window_query(source, ["ts"], END - WEEK, END, postgresql.dialect(), paramstyle="numeric")
    assert "'\\:x'" in named.sql and "':x'" in numeric.sql and "\\:" not in numeric.sql


def test_the_hash_sample_condition_is_the_low_32_bits_of_the_ids_text_in_the_c_collation() -> None:
    condition = hash_below('"customer_id"', 42_949_672)
    assert condition == '(hashtextextended(CAST("customer_id" AS text) COLLATE "C", 0) & 4294967295) < 42949672'
    with pytest.raises(ValueError):
        hash_below('"customer_id"', 0.5)  # type: ignore[arg-type]  # a threshold is an integer, never text


def test_the_sample_threshold_keeps_everything_of_a_small_window() -> None:
    assert sample_threshold(5_000, 10_000) == HASH_SPACE
    assert sample_threshold(10_000, 10_000) == HASH_SPACE
    assert sample_threshold(1_000_000, 10_000) == HASH_SPACE // 100


@pytest.mark.parametrize(
    ("backend", "condition"),
    [
        ("mysql", 'CRC32(CAST("id" AS CHAR CHARACTER SET utf8mb4)) < 7'),
        ("mariadb", 'CRC32(CAST("id" AS CHAR CHARACTER SET utf8mb4)) < 7'),
        ("duckdb", '(md5_number(CAST("id" AS VARCHAR)) % 4294967296) < 7'),
    ],
)
def test_each_backend_hashes_the_ids_text_with_its_own_function(backend: str, condition: str) -> None:
    assert hash_below('"id"', 7, backend) == condition


def test_sqlite_has_no_id_hash_to_sample_with() -> None:
    with pytest.raises(WarehouseError, match="the sqlite warehouse has no id hash"):
        hash_below('"id"', 7, "sqlite")


@pytest.mark.parametrize(
    ("backend", "text", "value"),
    # The values the servers answer: MariaDB 10.11 CRC32('7'), DuckDB 2.0 md5_number(...) % 2^32.
    [("mariadb", "7", 1790921346), ("mysql", "é", 235179326), ("duckdb", "C0111234567000001", 3255821302)],
)
def test_the_python_hash_is_the_one_the_database_computes(backend: str, text: str, value: int) -> None:
    hashed = python_hash(backend)

    assert hashed is not None and hashed(text) == value


def test_postgres_hash_has_no_python_twin_and_backends_hash_alike_only_in_one_family() -> None:
    assert python_hash("postgresql") is None and python_hash("sqlite") is None
    assert same_hash("mysql", "mariadb") and same_hash("duckdb", "duckdb")
    assert not same_hash("postgresql", "duckdb") and not same_hash("sqlite", "sqlite")


@pytest.mark.parametrize(
    ("dialect", "as_float", "as_text"),
    [
        (postgresql.dialect(), "CAST(x AS double precision)", "CAST(x AS text)"),
        (mysql.dialect(), "CAST(x AS DOUBLE)", "CAST(x AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin"),
        (sqlite.dialect(), "CAST(x AS REAL)", "CAST(x AS text)"),
    ],
    ids=["postgresql", "mysql", "sqlite"],
)
def test_casts_are_written_in_each_dialects_own_types(dialect, as_float: str, as_text: str) -> None:
    assert cast_float(dialect, "x") == as_float and cast_text(dialect, "x") == as_text
