"""The snapshot's form and content hash: a name and hash that do not depend on batch sizes or
on the path the rows took (a stream or a frame), that see every change of content, with strings
dictionary-encoded and Postgres numeric strings as floats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.artifacts import content_hash, read_snapshot, write_snapshot, write_snapshot_batches
from include.retraining.common import Window
from include.retraining.warehouse.types import plain_batch

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=7))
FRAME = generate_snapshots(700, WINDOW.start, WINDOW.end, seed=3)


def _as_adbc_gives_it(frame: pd.DataFrame, batch_rows: int | None) -> pa.RecordBatchReader:
    """The frame's rows typed as the Postgres driver streams them: microsecond timestamps."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(1, "snapshot_at", table["snapshot_at"].cast(pa.timestamp("us")))
    return table.to_reader(max_chunksize=batch_rows)


@pytest.mark.parametrize("batch_rows", [1, 64, 333, None])
def test_the_hash_and_file_name_do_not_depend_on_batch_sizes_or_the_path_taken(
    tmp_path: Path, batch_rows: int | None
) -> None:
    streamed = write_snapshot_batches(_as_adbc_gives_it(FRAME, batch_rows), tmp_path / "a", "churn", WINDOW)
    framed = write_snapshot(FRAME, tmp_path / "b", "churn", WINDOW)

    assert streamed.content_hash == framed.content_hash == content_hash(FRAME)
    assert streamed.path.name == framed.path.name and streamed.rows == len(FRAME)
    assert pq.read_schema(streamed.path) == pq.read_schema(framed.path)
    pd.testing.assert_frame_equal(read_snapshot(streamed.path), FRAME)


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(region=f["region"].where(f.index != 5, "east" if f["region"][5] != "east" else "west")),
        lambda f: f.assign(payment_method=f["payment_method"].fillna("")),
        lambda f: f.assign(monthly_charges=f["monthly_charges"].where(f.index != 0, None)),
        lambda f: f.rename(columns={"region": "area"}),
        lambda f: f.head(len(f) - 1),
    ],
    ids=["one string", "null vs empty string", "one number missing", "a column name", "one row fewer"],
)
def test_the_hash_sees_every_change_of_content(change) -> None:
    assert FRAME["payment_method"].isna().any()  # so that filling them is a change
    assert content_hash(change(FRAME.copy())) != content_hash(FRAME)


def test_strings_are_written_dictionary_encoded_and_read_back_as_plain_strings(tmp_path: Path) -> None:
    snapshot = write_snapshot_batches(_as_adbc_gives_it(FRAME, 250), tmp_path, "churn", WINDOW)

    file = pq.ParquetFile(snapshot.path)
    region = file.schema_arrow.field("region").type
    assert pa.types.is_dictionary(region) and region.value_type == pa.string()
    index = file.schema_arrow.get_field_index("region")
    for group in range(file.metadata.num_row_groups):
        assert "RLE_DICTIONARY" in file.metadata.row_group(group).column(index).encodings
    frame = read_snapshot(snapshot.path)
    assert frame["region"].dtype == object and frame["region"].tolist() == FRAME["region"].tolist()


def test_the_id_written_without_a_dictionary_is_the_same_content(tmp_path: Path) -> None:
    encoded = write_snapshot(FRAME, tmp_path / "a", "churn", WINDOW)
    plain = write_snapshot(FRAME, tmp_path / "b", "churn", WINDOW, plain_strings=["customer_id"])

    assert pq.read_schema(plain.path).field("customer_id").type == pa.string()
    assert pa.types.is_dictionary(pq.read_schema(encoded.path).field("customer_id").type)
    assert plain.content_hash == encoded.content_hash == content_hash(FRAME)
    pd.testing.assert_frame_equal(read_snapshot(plain.path), read_snapshot(encoded.path))


def test_postgres_numeric_strings_are_floats_in_the_snapshot(tmp_path: Path) -> None:
    numeric = pa.opaque(pa.string(), "numeric", "PostgreSQL")
    raw = pa.record_batch(
        {
            "at": pa.array([datetime(2026, 1, 2, 5, tzinfo=UTC)] * 3, type=pa.timestamp("us", tz="UTC")),
            "money": pa.ExtensionArray.from_storage(numeric, pa.array(["21.00", None, "1e3"])),
        }
    )
    reader = pa.RecordBatchReader.from_batches(plain_batch(raw).schema, [plain_batch(raw)])

    snapshot = write_snapshot_batches(reader, tmp_path, "churn", WINDOW)

    assert pq.read_schema(snapshot.path).field("money").type == pa.float64()
    frame = read_snapshot(snapshot.path)
    assert frame["money"].iloc[0] == 21.0 and pd.isna(frame["money"].iloc[1]) and frame["money"].iloc[2] == 1000.0
    assert frame["at"].iloc[0] == pd.Timestamp("2026-01-02 05:00") and frame["at"].dt.tz is None
