"""The snapshot writer: content-addressed, atomic (no leftovers on error, nothing published on a
refused row count), a rerun finds the file it wrote, a damaged one is rewritten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.artifacts import read_snapshot, write_parquet_atomic, write_snapshot, write_snapshot_batches
from include.retraining.common import Window

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=7))
SMALL = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
FRAME = generate_snapshots(700, WINDOW.start, WINDOW.end, seed=3)


def _as_adbc_gives_it(frame: pd.DataFrame, batch_rows: int | None) -> pa.RecordBatchReader:
    """The frame's rows typed as the Postgres driver streams them: microsecond timestamps."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(1, "snapshot_at", table["snapshot_at"].cast(pa.timestamp("us")))
    return table.to_reader(max_chunksize=batch_rows)


def test_snapshot_is_content_addressed_and_rewritten_identically(tmp_path: Path) -> None:
    frame = generate_snapshots(300, WINDOW.start, WINDOW.end, seed=1)

    first, second = write_snapshot(frame, tmp_path, "churn", WINDOW), write_snapshot(frame, tmp_path, "churn", WINDOW)

    assert first == second and first.path.name.startswith(first.content_hash[:16])
    assert first.path.parent == tmp_path / "churn" / "snapshots" / WINDOW.label
    assert list(first.path.parent.glob("*.tmp")) == []


def test_a_failing_write_leaves_no_temp_file_and_no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: pd.DataFrame, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(SMALL, tmp_path / "out" / "x.parquet")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("damage", [b"", b"PAR1 torn"])
def test_a_damaged_existing_snapshot_is_rewritten(tmp_path: Path, damage: bytes) -> None:
    first = write_snapshot(SMALL, tmp_path, "churn", WINDOW)
    first.path.write_bytes(damage)
    second = write_snapshot(SMALL, tmp_path, "churn", WINDOW)
    assert second.path == first.path
    pd.testing.assert_frame_equal(read_snapshot(second.path), SMALL)


def test_an_intact_snapshot_is_reused_not_rewritten(tmp_path: Path) -> None:
    first = write_snapshot(SMALL, tmp_path, "churn", WINDOW)
    mtime = first.path.stat().st_mtime_ns
    assert write_snapshot(SMALL, tmp_path, "churn", WINDOW).path.stat().st_mtime_ns == mtime


def test_a_rerun_finds_the_file_it_wrote_and_keeps_it(tmp_path: Path) -> None:
    first = write_snapshot_batches(_as_adbc_gives_it(FRAME, 100), tmp_path, "churn", WINDOW)
    written = first.path.stat().st_mtime_ns

    again = write_snapshot_batches(_as_adbc_gives_it(FRAME, 100), tmp_path, "churn", WINDOW)

    assert again == first and again.path.stat().st_mtime_ns == written
    assert sorted(p.name for p in first.path.parent.iterdir()) == [first.path.name]


@pytest.mark.parametrize("damage", ["truncated", "empty", "other rows"])
def test_a_torn_or_altered_snapshot_is_rewritten(tmp_path: Path, damage: str) -> None:
    first = write_snapshot_batches(_as_adbc_gives_it(FRAME, 100), tmp_path, "churn", WINDOW)
    whole = first.path.read_bytes()
    if damage == "other rows":
        FRAME.head(10).to_parquet(first.path, index=False)
    else:
        first.path.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"")

    again = write_snapshot_batches(_as_adbc_gives_it(FRAME, 100), tmp_path, "churn", WINDOW)

    assert again.path == first.path
    pd.testing.assert_frame_equal(read_snapshot(again.path), FRAME)


def test_a_refused_row_count_publishes_nothing(tmp_path: Path) -> None:
    def too_few(rows: int) -> None:
        raise ValueError(f"{rows} rows")

    with pytest.raises(ValueError, match="700 rows"):
        write_snapshot_batches(_as_adbc_gives_it(FRAME, 100), tmp_path, "churn", WINDOW, accept=too_few)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
