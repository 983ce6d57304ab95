"""Snapshot writes: atomic, no leftovers on error, a damaged existing snapshot is rewritten."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from include.retraining.artifacts.snapshots import read_snapshot, write_parquet_atomic, write_snapshot
from include.retraining.common.windows import Window

pytestmark = pytest.mark.unit

WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
FRAME = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})


def test_a_failing_write_leaves_no_temp_file_and_no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: pd.DataFrame, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(FRAME, tmp_path / "out" / "x.parquet")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("damage", [b"", b"PAR1 torn"])
def test_a_damaged_existing_snapshot_is_rewritten(tmp_path: Path, damage: bytes) -> None:
    first = write_snapshot(FRAME, tmp_path, "churn", WINDOW)
    first.path.write_bytes(damage)
    second = write_snapshot(FRAME, tmp_path, "churn", WINDOW)
    assert second.path == first.path
    pd.testing.assert_frame_equal(read_snapshot(second.path), FRAME)


def test_an_intact_snapshot_is_reused_not_rewritten(tmp_path: Path) -> None:
    first = write_snapshot(FRAME, tmp_path, "churn", WINDOW)
    mtime = first.path.stat().st_mtime_ns
    assert write_snapshot(FRAME, tmp_path, "churn", WINDOW).path.stat().st_mtime_ns == mtime
