"""Snapshot retention: keep the training snapshots of a model's newest `retention.snapshots`
windows, and always the champion's and previous champion's (a rollback or an audit needs the
rows a serving model was trained on), instead of a copy of every snapshot in MLflow. The row
copies each monitoring run makes for its own tasks are kept for as many windows (their reports
stay). Report retention: the monitoring windows' reports (Evidently HTML and JSON, evidence) and
the validation windows' Great Expectations results are kept for the newest `retention.reports`
windows of each kind; older window folders go whole.

Nothing is deleted without knowing what is protected: the caller (the retrain's promote step)
reads the champions' snapshots from the registry, and skips pruning when it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from os import PathLike

from include.retraining.artifacts.layout import MONITORING, SNAPSHOTS, VALIDATION, Root, model_dir
from include.retraining.artifacts.store import (
    ArtifactPath,
    artifact_path,
    files_under,
    modified,
    remove,
    remove_empty_folder,
    remove_tree,
)

# A snapshot this young may still be read by a run in progress (extract -> evaluate) or a retry.
SNAPSHOT_MIN_AGE = timedelta(days=2)


@dataclass(frozen=True)
class SnapshotFile:
    path: ArtifactPath
    window_label: str
    modified: float

    @property
    def window_end(self) -> str:
        """The label's end part (`%Y%m%dT%H%M%S`), which sorts like the time it names."""
        return self.window_label.rsplit("_", 1)[-1]


def _files(folder: ArtifactPath) -> list[SnapshotFile]:
    if not folder.is_dir():
        return []
    return [SnapshotFile(p, p.parent.name, modified(p)) for p in folder.glob("*/*.parquet") if p.is_file()]


def snapshot_files(artifact_root: Root, model: str) -> list[SnapshotFile]:
    return _files(model_dir(artifact_root, model) / SNAPSHOTS)


def monitoring_frames(artifact_root: Root, model: str) -> list[SnapshotFile]:
    """The rows each monitoring run copies for its own tasks (current, matured, served); its
    reports (HTML, JSON) stay."""
    return _files(model_dir(artifact_root, model) / MONITORING)


def to_delete(
    files: list[SnapshotFile], keep: int, protected: set[str | PathLike[str]], now: float
) -> list[ArtifactPath]:
    """The files of all but the `keep` newest windows, never a protected or young one."""
    kept = set(sorted({f.window_end for f in files}, reverse=True)[:keep])
    young = now - SNAPSHOT_MIN_AGE.total_seconds()
    protected = {str(artifact_path(p)) for p in protected}
    newest_first = sorted(files, key=lambda f: (f.window_end, f.modified), reverse=True)
    return [
        f.path for f in newest_first if f.window_end not in kept and str(f.path) not in protected and f.modified < young
    ]


def prune_snapshots(
    artifact_root: Root, model: str, keep: int, protected: set[str | PathLike[str]], now: float
) -> list[ArtifactPath]:
    """Delete the snapshots, and the monitoring runs' row copies, of all but the newest `keep`
    windows, never a `protected` or young one; the deleted paths."""
    snapshots = to_delete(snapshot_files(artifact_root, model), keep, protected, now)
    frames = to_delete(monitoring_frames(artifact_root, model), keep, set(), now)
    for path in [*snapshots, *frames]:
        remove(path)
    for path in snapshots:
        remove_empty_folder(path.parent)
    return [*snapshots, *frames]


def _window_folders(folder: ArtifactPath) -> list[SnapshotFile]:
    """A kind's window folders, each dated by its newest file (an empty local one by the folder's
    own time; an object store has no empty folders)."""
    if not folder.is_dir():
        return []
    windows = []
    for path in (p for p in folder.iterdir() if p.is_dir()):
        times = [modified(f) for f in files_under(path)]
        windows.append(SnapshotFile(path, path.name, max(times) if times else modified(path)))
    return windows


def prune_reports(artifact_root: Root, model: str, keep: int, now: float) -> list[ArtifactPath]:
    """Delete the monitoring and validation window folders (reports, GX results, evidence, and any
    row copies left) of all but the newest `keep` windows of each kind, never one with a file
    younger than SNAPSHOT_MIN_AGE; the deleted folders."""
    deleted: list[ArtifactPath] = []
    for kind in (MONITORING, VALIDATION):
        for path in to_delete(_window_folders(model_dir(artifact_root, model) / kind), keep, set(), now):
            remove_tree(path)
            deleted.append(path)
    return deleted
