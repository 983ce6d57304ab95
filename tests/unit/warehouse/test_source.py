"""`Warehouse`: a model's source read on a real SQLite database, as the embedded setup reads it:
half-open windows, missing columns and refused SQL named with the fix, connection faults left
retryable. PostgreSQL's ADBC reads, samples and aggregates: tests/integration/test_warehouse_postgres.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import TABLE, generate_snapshots, load_window
from include.retraining.config import SourceConfig, load_model_config
from include.retraining.warehouse import HASH_SPACE, Warehouse, WarehouseError

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
COLUMNS = ["customer_id", "snapshot_at", "churned", *CONFIG.features.columns]
START = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    load_window(url, TABLE, generate_snapshots(200, START, START + WEEK, seed=1), START, START + WEEK)
    return Warehouse(url)


def test_a_window_is_half_open_and_ordered_by_time(warehouse: Warehouse) -> None:
    frame = warehouse.read_window(CONFIG.source, COLUMNS, START, START + WEEK, model="churn")
    later = warehouse.read_window(CONFIG.source, COLUMNS, START + WEEK, START + 2 * WEEK, model="churn")
    last = frame["snapshot_at"].iloc[-1].to_pydatetime().replace(tzinfo=UTC)

    just_before = warehouse.read_window(CONFIG.source, COLUMNS, START, last - timedelta(microseconds=1), model="churn")
    from_last = warehouse.read_window(CONFIG.source, COLUMNS, last, START + WEEK, model="churn")

    assert len(frame) == 200 and len(later) == 0 and list(frame.columns) == COLUMNS
    assert frame["snapshot_at"].is_monotonic_increasing and frame["snapshot_at"].dt.tz is None
    assert len(just_before) == len(frame) - 1 and len(from_last) == 0  # (start, end]: the end row is in


def test_the_window_batches_hold_the_rows_read_window_returns(warehouse: Warehouse) -> None:
    frame = warehouse.read_window(CONFIG.source, COLUMNS, START, START + WEEK, model="churn")

    with warehouse.window_batches(CONFIG.source, COLUMNS, START, START + WEEK, model="churn") as reader:
        streamed = reader.read_all().to_pandas()

    pd.testing.assert_frame_equal(streamed, frame)


def test_a_monitor_window_on_sqlite_reads_every_row_unsampled(warehouse: Warehouse) -> None:
    window = warehouse.read_monitor_window(CONFIG, COLUMNS, START, START + WEEK, max_rows=50)

    assert window.rows == len(window.frame) == 200
    assert window.threshold == HASH_SPACE and not window.sampled


def test_the_training_sample_is_refused_on_sqlite_with_the_key_and_the_fix(warehouse: Warehouse) -> None:
    with pytest.raises(
        WarehouseError, match=r"model 'churn': training.sample_rows .* the sqlite warehouse has none .*; remove"
    ):
        warehouse.read_window_sample(CONFIG, COLUMNS, START, START + WEEK)


def test_the_window_aggregates_are_the_figures_of_every_row(warehouse: Warehouse) -> None:
    frame = warehouse.read_window(CONFIG.source, COLUMNS, START, START + WEEK, model="churn")

    aggregates = warehouse.window_aggregates(CONFIG, START, START + WEEK)

    assert aggregates.rows == len(frame) == warehouse.window_rows(CONFIG, START, START + WEEK) == 200
    assert aggregates.nulls["monthly_charges"] == frame["monthly_charges"].isna().sum()
    assert aggregates.minimum["monthly_charges"] == frame["monthly_charges"].min()
    assert aggregates.maximum["tenure_months"] == frame["tenure_months"].max()
    assert aggregates.categories["contract"] == frame["contract"].value_counts().to_dict()


def test_the_source_columns_are_the_tables(warehouse: Warehouse) -> None:
    assert set(COLUMNS) <= warehouse.source_columns(CONFIG.source, model="churn")


def test_missing_column_is_named_with_the_model_and_the_fix(warehouse: Warehouse) -> None:
    with pytest.raises(
        WarehouseError, match=r"model 'churn': table 'customer_snapshots' has no column\(s\) \['nope'\]"
    ):
        warehouse.read_window(CONFIG.source, ["snapshot_at", "nope"], START, START + WEEK, model="churn")


def test_a_missing_table_is_named_without_the_password(tmp_path: Path) -> None:
    empty = Warehouse(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(WarehouseError, match=r"table 'customer_snapshots' does not exist in the warehouse .*empty\.db"):
        empty.read_window(CONFIG.source, ["snapshot_at"], START, START + WEEK, model="churn")


def test_query_source_with_a_comment_and_colon_literals_reads_the_window(warehouse: Warehouse) -> None:
    source = SourceConfig(
        query="select *, ':x' as tag from customer_snapshots where region <> ':north' -- all regions",
        timestamp_column="snapshot_at",
    )
    frame = warehouse.read_window(source, ["snapshot_at", "tag", "region"], START, START + WEEK, model="churn")
    assert len(frame) == 200 and set(frame["tag"]) == {":x"}


def test_query_source_missing_column_names_model_column_and_fix(warehouse: Warehouse) -> None:
    source = SourceConfig(query="select snapshot_at, churned from customer_snapshots", timestamp_column="snapshot_at")
    with pytest.raises(WarehouseError) as raised:
        warehouse.read_window(source, ["snapshot_at", "churned", "tenure_months"], START, START + WEEK, model="churn")
    message = str(raised.value)
    assert "model 'churn'" in message and "['tenure_months']" in message and "source.query" in message
    assert "fix `features`, `target` or `source`" in message


def test_query_the_warehouse_refuses_is_a_named_error(warehouse: Warehouse) -> None:
    source = SourceConfig(query="select * from no_such_table", timestamp_column="snapshot_at")
    with pytest.raises(
        WarehouseError, match=r"model 'churn': .*no such table.*a table is missing: check `source.query`"
    ):
        warehouse.read_window(source, ["snapshot_at"], START, START + WEEK, model="churn")


@pytest.mark.parametrize("source", [CONFIG.source, SourceConfig(query="select 1 as ts", timestamp_column="ts")])
def test_an_unreachable_warehouse_stays_a_retryable_error_without_the_password(source: SourceConfig) -> None:
    unreachable = Warehouse("postgresql+psycopg2://reader:pw-41c9e0@127.0.0.1:9/warehouse")  # nothing on port 9

    with pytest.raises(Exception) as raised:  # any type but WarehouseError
        unreachable.read_window(source, ["ts"], START, START + WEEK, model="churn")

    assert not isinstance(raised.value, WarehouseError), "a connection fault must be retried, not alerted as config"
    assert "pw-41c9e0" not in str(raised.value)


def _spoil(warehouse: Warehouse, sql: str) -> None:
    """Write bytes the pipeline never writes (a bad upstream load), with sqlite3 itself."""
    import sqlite3

    with sqlite3.connect(warehouse._url.database) as conn:
        conn.execute(sql.format(t=TABLE))


def _rows(n: int) -> str:
    return f"rowid IN (SELECT rowid FROM {TABLE} ORDER BY customer_id LIMIT {n})"


def test_rows_without_a_usable_time_are_counted_and_left_out_of_every_window(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    _spoil(warehouse, f"UPDATE {{t}} SET snapshot_at = NULL WHERE {_rows(1)}")
    _spoil(warehouse, "UPDATE {t} SET snapshot_at = '2026-01-03 soon' WHERE rowid = (SELECT max(rowid) FROM {t})")
    config = CONFIG.model_copy(update={"source": CONFIG.source.model_copy(update={"max_null_timestamp_share": 0.05})})

    with caplog.at_level("INFO"):
        counted = warehouse.check_timestamps(config)
    frame = warehouse.read_window(config.source, COLUMNS, START, START + WEEK, model="churn")

    assert (counted.rows, counted.undated) == (200, 2)
    assert "2 of 200 rows of table 'customer_snapshots' have no usable snapshot_at" in caplog.text
    assert len(frame) == 198 and frame["snapshot_at"].notna().all()  # the text one fails no parse


def test_more_undated_rows_than_the_share_stop_the_read_with_model_column_count_and_fix(warehouse: Warehouse) -> None:
    _spoil(warehouse, f"UPDATE {{t}} SET snapshot_at = NULL WHERE {_rows(3)}")

    with pytest.raises(WarehouseError) as raised:
        warehouse.check_timestamps(CONFIG)  # default share 0.01: 3 of 200 is 1.5%

    message = str(raised.value)
    assert "model 'churn': 3 of 200 rows (1.5%) of table 'customer_snapshots'" in message
    assert "NULL or unreadable source.timestamp_column 'snapshot_at'" in message
    assert "source.max_null_timestamp_share=0.01" in message and "Fix the upstream load" in message


def test_text_that_is_not_utf8_is_a_named_error_without_the_value(warehouse: Warehouse) -> None:
    _spoil(warehouse, f"UPDATE {{t}} SET region = CAST(x'4d616ce9' AS TEXT) WHERE {_rows(1)}")  # latin-1 'Malé'

    with pytest.raises(WarehouseError) as raised:
        warehouse.read_window(CONFIG.source, COLUMNS, START, START + WEEK, model="churn")

    message = str(raised.value)
    assert "model 'churn': column 'region' of table 'customer_snapshots' holds text that is not UTF-8" in message
    assert "re-encode 'region' as UTF-8 in the upstream load" in message and "Mal" not in message
