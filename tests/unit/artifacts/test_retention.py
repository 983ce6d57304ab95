"""Snapshot retention, the pure part: the newest windows are kept, and always a protected or a
young snapshot; the monitoring runs' row copies go with their windows, their reports stay."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.artifacts import SNAPSHOT_MIN_AGE, prune_reports, prune_snapshots
from include.retraining.common import training_window

pytestmark = pytest.mark.unit

NOW = time.time()
OLD = NOW - timedelta(days=30).total_seconds()


def _snapshots(root: Path, weeks: int) -> list[Path]:
    """One snapshot per weekly window, oldest first, all written long ago."""
    paths = []
    for week in range(weeks):
        window = training_window(datetime(2026, 1, 5, 3, tzinfo=UTC) + timedelta(weeks=week), 42, 7)
        path = root / "churn" / "snapshots" / window.label / f"{week:016x}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"rows")
        os.utime(path, (OLD, OLD))
        paths.append(path)
    return paths


def test_the_newest_windows_and_the_protected_snapshots_are_kept(tmp_path: Path) -> None:
    paths = _snapshots(tmp_path, 8)
    os.utime(paths[2], (NOW, NOW))  # written just now: a run in progress may still read it

    deleted = prune_snapshots(tmp_path, "churn", 3, {paths[0], paths[1]}, NOW)

    assert sorted(deleted) == sorted(paths[3:5])
    assert [p.exists() for p in paths] == [True, True, True, False, False, True, True, True]
    assert not paths[3].parent.exists()  # its empty window folder goes too


def test_a_snapshot_just_older_than_the_minimum_age_may_go(tmp_path: Path) -> None:
    paths = _snapshots(tmp_path, 2)
    almost = NOW - SNAPSHOT_MIN_AGE.total_seconds() + 60
    os.utime(paths[0], (almost, almost))

    assert prune_snapshots(tmp_path, "churn", 1, set(), NOW) == []
    assert prune_snapshots(tmp_path, "churn", 1, set(), NOW + 120) == [paths[0]]


def test_a_model_without_snapshots_prunes_nothing(tmp_path: Path) -> None:
    _snapshots(tmp_path, 4)
    assert prune_snapshots(tmp_path, "other", 1, set(), NOW) == []


def test_monitoring_row_copies_of_older_windows_go_and_their_reports_stay(tmp_path: Path) -> None:
    root = tmp_path / "churn" / "monitoring"
    days = [root / f"20260301T000000_202603{day:02d}T000000" for day in range(1, 11)]
    for folder in days:
        folder.mkdir(parents=True)
        for name in ("current.parquet", "matured.parquet", "drift_report.html"):
            (folder / name).write_bytes(b"x")
            os.utime(folder / name, (OLD, OLD))

    deleted = prune_snapshots(tmp_path, "churn", 3, set(), NOW)

    assert sorted({p.parent for p in deleted}) == days[:7] and len(deleted) == 14  # keeps 3 windows
    assert all((folder / "drift_report.html").exists() for folder in days)
    assert (days[7] / "current.parquet").exists()


def _windows(root: Path, kind: str, names: tuple[str, ...], days: int = 10) -> list[Path]:
    folders = [root / "churn" / kind / f"20260301T000000_202603{day:02d}T000000" for day in range(1, days + 1)]
    for folder in folders:
        (folder / "nested").mkdir(parents=True)
        for name in (*names, "nested/part.json"):
            (folder / name).write_bytes(b"x")
            os.utime(folder / name, (OLD, OLD))
    return folders


def test_reports_and_gx_results_of_older_windows_go_whole_and_young_ones_stay(tmp_path: Path) -> None:
    monitoring = _windows(tmp_path, "monitoring", ("drift_report.html", "drift_report.json"))
    validation = _windows(tmp_path, "validation", ("gx_result.html", "gx_result.json"), days=4)
    os.utime(monitoring[0] / "nested" / "part.json", (NOW, NOW))  # a run is writing there now

    deleted = prune_reports(tmp_path, "churn", 3, NOW)

    assert sorted(deleted) == sorted([*monitoring[1:7], validation[0]])
    assert [f.exists() for f in monitoring] == [True] + [False] * 6 + [True] * 3
    assert [f.exists() for f in validation] == [False, True, True, True]
    assert prune_reports(tmp_path, "churn", 3, NOW) == []  # nothing left to do
    assert prune_reports(tmp_path, "other", 1, NOW) == []
