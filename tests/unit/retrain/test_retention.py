"""The retrain's snapshot housekeeping: what is protected comes from the registry (this run's
snapshot, the champion's and the previous champion's); nothing is deleted when the registry does
not answer, nor on a dry run."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include.retraining.common import load_settings, training_window
from include.retraining.config import load_model_config
from include.retraining.retrain import prune_reports, prune_snapshots
from include.retraining.runs import RunInfo, StepContext
from include.retraining.tracking import SNAPSHOT_PATH_TAG, RegistryError

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
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
    return StepContext(KEEP_3, settings, run, tracker=tracker, registry=registry)


def test_this_runs_snapshot_and_both_champions_are_kept(tmp_path: Path) -> None:
    root = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")}).artifact_root
    paths = _snapshots(root, 8)
    champion, previous = SimpleNamespace(run_id="c"), SimpleNamespace(run_id="p")
    ctx = _ctx(tmp_path, Aliases(champion, previous), Tags({"c": paths[1], "p": paths[0]}))

    deleted = prune_snapshots(ctx, str(paths[4]), now=NOW)

    assert sorted(deleted) == [paths[2], paths[3]]  # keeps 3 windows (5-7), this run's (4) and the champions' (0, 1)
    assert [p.exists() for p in paths] == [True, True, False, False, True, True, True, True]


def test_without_champions_only_this_runs_snapshot_is_protected(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, Aliases(), Tags({}))
    paths = _snapshots(ctx.settings.artifact_root, 5)

    deleted = prune_snapshots(ctx, str(paths[0]), now=NOW)

    assert deleted == [paths[1]] and paths[0].exists()


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


def _reports(root: Path, weeks: int) -> list[Path]:
    """One GX result per weekly window, oldest first, all written long ago."""
    folders = []
    for week in range(weeks):
        window = training_window(datetime(2026, 1, 5, 3, tzinfo=UTC) + timedelta(weeks=week), 42, 7)
        page = root / "churn" / "validation" / window.label / "gx_result.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(b"<html>")
        os.utime(page, (OLD, OLD))
        folders.append(page.parent)
    return folders


def test_reports_beyond_retention_go_even_when_the_registry_is_down(tmp_path: Path) -> None:
    config = KEEP_3.model_copy(update={"retention": KEEP_3.retention.model_copy(update={"reports": 2})})
    ctx = _ctx(tmp_path, Aliases(error=RegistryError("registry down")), Tags({}))
    ctx = StepContext(config, ctx.settings, ctx.run, tracker=ctx.tracker, registry=ctx.registry)
    folders = _reports(ctx.settings.artifact_root, 5)

    assert sorted(prune_reports(ctx, now=NOW)) == folders[:3]
    assert [f.exists() for f in folders] == [False, False, False, True, True]
    dry = _ctx(tmp_path, Aliases(), Tags({}), dry_run=True)
    _reports(dry.settings.artifact_root, 5)
    assert prune_reports(dry, now=NOW) == []
