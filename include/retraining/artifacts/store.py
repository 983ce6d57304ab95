"""The artifact store: the one place artifacts are written, read and deleted, on a local folder
or any fsspec URL (`s3://bucket/prefix`, `gs://...`, `memory://...`), chosen by
RETRAINING_ARTIFACT_ROOT alone.

The only module that imports universal-pathlib and fsspec. A location is an `ArtifactPath`: a
`pathlib.Path` for a local root (so a local path is what it always was), a universal-pathlib
path for a URL; both answer `/`, `exists()`, `glob()`, `read_text()` and `open()` alike.

Writes are atomic either way. On local disk a file is written under a temporary name beside the
final one, fsynced and renamed; on an object store it is written to a local temporary file, then
put with one request, which the store makes visible whole or not at all. Libraries that only
write local files (Evidently's `save_html`, pandas' Parquet writer) write the temporary file.
Object-store credentials and endpoints come from the library's standard environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, ...).
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import IO, Any

from upath import UPath

ArtifactPath = UPath
_LOCAL = ("", "file", "local")


def artifact_path(location: str | PathLike[str]) -> UPath:
    """The store location of a root, or of a file or folder under it (a local path or a URL, as
    written into XComs and tables by `str()`)."""
    if isinstance(location, UPath):
        return location
    path = UPath(location)
    if path.protocol in _LOCAL:
        return UPath(Path(path.path).resolve())
    # No cached listings: a long-lived reader (the api-server's Models page and report route)
    # must see the files other hosts' workers wrote since it last looked.
    return UPath(location, use_listings_cache=False)


def is_local(path: str | PathLike[str]) -> bool:
    return artifact_path(path).protocol in _LOCAL


@contextmanager
def staged(target: UPath) -> Iterator[Path]:
    """A local temporary file for `target`'s content (beside it on local disk, in the system's
    temporary folder for a remote store), removed unless `publish` moved it into place."""
    target = artifact_path(target)
    if is_local(target):
        folder = Path(target.path).parent
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = None
    handle, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def publish(staged_file: Path, target: UPath) -> UPath:
    """Move a staged file to `target` whole: fsync and rename locally, one put on a store."""
    target = artifact_path(target)
    if is_local(target):
        with staged_file.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(staged_file, target.path)
    else:
        target.fs.put_file(str(staged_file), target.path)
    return target


def write_with(target: str | PathLike[str], write: Callable[[Path], Any]) -> UPath:
    """`write(local_file)` fills a staged file, which then becomes `target` atomically."""
    target = artifact_path(target)
    with staged(target) as tmp:
        write(tmp)
        return publish(tmp, target)


def write_text(target: str | PathLike[str], text: str) -> UPath:
    return write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(target: str | PathLike[str], data: bytes) -> UPath:
    return write_with(target, lambda tmp: tmp.write_bytes(data))


def copy_in(local_file: Path, target: str | PathLike[str]) -> UPath:
    """A local file's copy at `target`, atomically (the local file stays)."""
    return write_bytes(target, Path(local_file).read_bytes())


@contextmanager
def opened(path: str | PathLike[str]) -> Iterator[str | IO[bytes]]:
    """What a reader such as pyarrow takes: the file name on local disk (memory-mapped, fast), an
    open binary file on a store."""
    path = artifact_path(path)
    if is_local(path):
        yield path.path
    else:
        with path.open("rb") as handle:
            yield handle


@contextmanager
def local_copy(path: str | PathLike[str]) -> Iterator[Path]:
    """A local file of path's bytes under its own name, for libraries that read local files only
    (MLflow's `log_artifact`): the file itself on local disk, a temporary download otherwise."""
    path = artifact_path(path)
    if is_local(path):
        yield Path(path.path)
        return
    with tempfile.TemporaryDirectory(prefix="retraining-artifact-") as folder:
        local = Path(folder) / path.name
        path.fs.get_file(path.path, str(local))
        yield local


def modified(path: UPath) -> float:
    """The time a file was last written (seconds since the epoch)."""
    path = artifact_path(path)
    if is_local(path):
        return os.stat(path.path).st_mtime
    try:
        return path.fs.modified(path.path).timestamp()
    except (NotImplementedError, AttributeError, KeyError):
        return float(path.stat().st_mtime)


def files_under(folder: UPath) -> list[UPath]:
    """Every file below folder, at any depth; none for a missing folder."""
    folder = artifact_path(folder)
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def remove(path: UPath) -> None:
    """Delete a file; one already gone is fine (a retried prune)."""
    path = artifact_path(path)
    if path.exists():
        path.unlink()


def remove_tree(folder: UPath) -> None:
    """Delete a folder and everything below it; one already gone is fine."""
    folder = artifact_path(folder)
    if not folder.exists():
        return
    if is_local(folder):
        import shutil

        shutil.rmtree(folder.path, ignore_errors=True)
    else:
        folder.fs.rm(folder.path, recursive=True)


def remove_empty_folder(folder: UPath) -> None:
    """Remove a local folder left empty; an object store has no empty folders to remove."""
    folder = artifact_path(folder)
    if is_local(folder) and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def relative_key(root: str | PathLike[str], path: str | PathLike[str] | None) -> str | None:
    """`path` as a key under `root` (`model/monitoring/<window>/drift_report.html`), or None for
    no path, the root itself, a path outside the root or one that climbs out of it with `..`."""
    if not path:
        return None
    root, path = artifact_path(root), artifact_path(path)
    if root.protocol != path.protocol:
        return None
    base, full = posixpath.normpath(root.path), posixpath.normpath(path.path)
    if is_local(root):
        base, full = str(Path(base).resolve()), str(Path(full).resolve())
    if not full.startswith(base.rstrip("/") + "/"):
        return None
    return full[len(base.rstrip("/")) + 1 :]


def under(root: str | PathLike[str], key: str) -> UPath | None:
    """The file at `key` below root, or None when the key would climb out of it."""
    root = artifact_path(root)
    candidate = artifact_path(f"{str(root).rstrip('/')}/{key}")
    return candidate if relative_key(root, candidate) is not None else None
