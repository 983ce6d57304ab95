"""Training snapshots: the exact rows a run used, as Parquet, named by model, window and content.

The content hash covers values, column names and dtypes, not Parquet bytes, so it is stable
across library versions; a rerun of the same window writes the same file under the same name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from include.retraining.layout import snapshot_dir
from include.retraining.windows import Window


@dataclass(frozen=True)
class Snapshot:
    path: Path
    content_hash: str
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "content_hash": self.content_hash, "rows": self.rows}


def content_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Temp file, then rename: a crash never leaves half a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        try:
            frame.to_parquet(tmp.name, index=False)
            os.fsync(tmp.fileno())
            os.replace(tmp.name, path)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    return path


def _intact(path: Path, digest: str) -> bool:
    """The file at path holds exactly the rows of this hash (a torn or altered file does not)."""
    try:
        return content_hash(read_snapshot(path)) == digest
    except Exception:  # noqa: BLE001 - any unreadable file is simply not intact
        return False


def write_snapshot(frame: pd.DataFrame, artifact_root: Path, model: str, window: Window) -> Snapshot:
    """Content-addressed: a rerun of the same window finds the file it already wrote (and rewrites
    it when the file there is torn or altered)."""
    frame = frame.reset_index(drop=True)
    digest = content_hash(frame)
    path = snapshot_dir(artifact_root, model, window) / f"{digest[:16]}.parquet"
    if not (path.exists() and _intact(path, digest)):
        write_parquet_atomic(frame, path)
    return Snapshot(path=path, content_hash=digest, rows=len(frame))


def read_snapshot(path: Path | str) -> pd.DataFrame:
    return pd.read_parquet(path)
