"""Snapshot retention: the newest windows are kept, and always the champion's and previous
champion's snapshots and any young one; nothing is deleted when the registry does not answer."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include.retraining.artifacts.retention import prune_snapshots
from include.retraining.common.settings import load_settings
from include.retraining.common.windows import training_window
from include.retraining.config.model import load_model_config
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.tracking.registry import RegistryError
from include.retraining.tracking.tracker import SNAPSHOT_PATH_TAG

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
KEEP_3 = CONFIG.model_copy(update={"retention": CONFIG.retention.model_copy(update={"snapshots": 3})})
NOW = time.time()
OLD = NOW - timedelta(days=30).total_seconds()


class Aliases:
    def __init__(self, champion=None, previous=None, error: Exception | None = None):
        self._champion, self._previous, self.error = champion, previous, error

    def champion(self):
        if self.error:
            raise self.error
        return self._champion

    def previous_champion(self):
        return self._previous


class Tags:
    def __init__(self, paths: dict[str, Path]):
        self.paths = paths

    def run_tags(self, run_id: str) -> dict[str, str]:
        return {SNAPSHOT_PATH_TAG: str(self.paths[run_id])}


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


def _ctx(tmp_path: Path, registry, tracker, dry_run: bool = False) -> StepContext:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    run = RunInfo("retrain_churn", "r", datetime(2026, 4, 1, tzinfo=UTC), dry_run=dry_run)
    return StepContext(KEEP_3, settings, run, fake_tracker=tracker, fake_registry=registry)


def test_the_newest_windows_and_both_champions_are_kept(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, None, None)
    paths = _snapshots(ctx.settings.artifact_root, 8)
    champion, previous = SimpleNamespace(run_id="c"), SimpleNamespace(run_id="p")
    ctx = replace(ctx, fake_registry=Aliases(champion, previous), fake_tracker=Tags({"c": paths[1], "p": paths[0]}))
    os.utime(paths[2], (NOW, NOW))  # written just now: a run in progress may still read it

    deleted = prune_snapshots(ctx, str(paths[7]), now=NOW)

    assert sorted(deleted) == sorted(paths[3:5])
    assert [p.exists() for p in paths] == [True, True, True, False, False, True, True, True]
    assert not paths[3].parent.exists()  # its empty window folder goes too


def test_a_registry_error_deletes_nothing(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, Aliases(error=RegistryError("registry down")), Tags({}))
    paths = _snapshots(ctx.settings.artifact_root, 6)

    with pytest.raises(RegistryError):
        prune_snapshots(ctx, str(paths[-1]), now=NOW)

    assert all(p.exists() for p in paths)


def test_a_dry_run_deletes_nothing(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, Aliases(), Tags({}), dry_run=True)
    paths = _snapshots(ctx.settings.artifact_root, 6)

    assert prune_snapshots(ctx, str(paths[-1]), now=NOW) == [] and all(p.exists() for p in paths)


def test_monitoring_row_copies_of_older_windows_go_and_their_reports_stay(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, Aliases(), Tags({}))
    root = ctx.settings.artifact_root / "churn" / "monitoring"
    days = [root / f"20260301T000000_202603{day:02d}T000000" for day in range(1, 11)]
    for folder in days:
        folder.mkdir(parents=True)
        for name in ("current.parquet", "matured.parquet", "drift_report.html"):
            (folder / name).write_bytes(b"x")
            os.utime(folder / name, (OLD, OLD))

    deleted = prune_snapshots(ctx, str(tmp_path / "none.parquet"), now=NOW)

    assert sorted({p.parent for p in deleted}) == days[:7] and len(deleted) == 14  # keeps 3 windows
    assert all((folder / "drift_report.html").exists() for folder in days)
    assert (days[7] / "current.parquet").exists()
