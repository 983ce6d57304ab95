"""The SQL the warehouse reads are made of, as text: quoted names, a window's SELECT in each
parameter style, and the id-hash sample's condition and threshold. No database here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from include.retraining.config import SourceConfig
from include.retraining.warehouse import (
    HASH_SPACE,
    WarehouseError,
    hash_below,
    quote_name,
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
