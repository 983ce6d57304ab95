"""Training snapshots: the exact rows a run used, as Parquet, named by model, window and content.

A snapshot is written as a stream of Arrow record batches (`write_snapshot_batches`): each batch
is put in the snapshot's form (`snapshot_form`: strings dictionary-encoded), hashed and written
as it comes, into a staged file published whole once complete (`store`: renamed on a local
folder, one upload to an object store), so no step holds the whole window. A pandas frame
(SQLite's path, the hash sample) goes through the same writer and gives the same file and hash
for the same rows. The content hash covers column names, types and values, not Parquet bytes,
so it is stable across library versions and batch sizes; a rerun of the same window writes the
same file under the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from os import PathLike

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.retraining.artifacts.layout import Root, snapshot_dir
from include.retraining.artifacts.snapshot_form import (
    ContentDigest,
    digest_of,
    encoded_batch,
    logical_batch,
    snapshot_schema,
)
from include.retraining.artifacts.store import ArtifactPath, opened, publish, staged, write_with
from include.retraining.common import Window

# Batches a frame is cut into on its way to the writer: one row group each, bounded temporaries.
FRAME_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Snapshot:
    path: ArtifactPath
    content_hash: str
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "content_hash": self.content_hash, "rows": self.rows}


def frame_batches(frame: pd.DataFrame) -> pa.RecordBatchReader:
    return pa.Table.from_pandas(frame, preserve_index=False).to_reader(max_chunksize=FRAME_BATCH_ROWS)


def content_hash(frame: pd.DataFrame) -> str:
    """The hash `write_snapshot` names the frame's snapshot by."""
    reader = frame_batches(frame)
    return digest_of(reader, snapshot_schema(reader.schema)).hexdigest()


def write_parquet_atomic(frame: pd.DataFrame, path: str | PathLike[str]) -> ArtifactPath:
    """A frame as Parquet at path in the artifact store, whole or not at all."""
    return write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _intact(path: ArtifactPath, digest: str) -> bool:
    """The file at path holds exactly the rows of this hash (a torn or altered file does not),
    read back batch by batch."""
    try:
        with opened(path) as source:
            file = pq.ParquetFile(source)
            return digest_of(file.iter_batches(), file.schema_arrow).hexdigest() == digest
    except Exception:  # noqa: BLE001 - any unreadable file is simply not intact
        return False


def write_snapshot_batches(
    batches: pa.RecordBatchReader,
    artifact_root: Root,
    model: str,
    window: Window,
    accept: Callable[[int], None] | None = None,
    plain_strings: Collection[str] = (),
) -> Snapshot:
    """Stream the batches into a content-addressed snapshot: a rerun of the same window finds the
    file it already wrote (and rewrites it when the file there is torn or altered).

    `accept(rows)` sees the row count before the file is published; whatever it raises stops the
    write and leaves nothing behind. `plain_strings` (the id column) are written without a
    dictionary; the hash does not depend on it.
    """
    folder = snapshot_dir(artifact_root, model, window)
    schema = snapshot_schema(batches.schema, plain_strings)
    digest = ContentDigest(schema)
    with staged(folder / "snapshot.parquet") as tmp:
        # Parquet dictionaries for the dictionary strings only: tried on unique floats and
        # timestamps they fall back to plain after the first page, a fifth of the write time.
        strings = [field.name for field in schema if pa.types.is_dictionary(field.type)]
        with pq.ParquetWriter(tmp, schema, use_dictionary=strings) as writer:
            for raw in batches:
                batch = logical_batch(raw, schema)
                digest.update(batch)
                writer.write_batch(encoded_batch(batch, schema))
        if accept is not None:
            accept(digest.rows)
        content = digest.hexdigest()
        path = folder / f"{content[:16]}.parquet"
        if not (path.exists() and _intact(path, content)):
            publish(tmp, path)
    return Snapshot(path=path, content_hash=content, rows=digest.rows)


def write_snapshot(
    frame: pd.DataFrame, artifact_root: Root, model: str, window: Window, plain_strings: Collection[str] = ()
) -> Snapshot:
    """A frame's snapshot: the same file and hash as the same rows streamed."""
    return write_snapshot_batches(frame_batches(frame), artifact_root, model, window, plain_strings=plain_strings)


def read_snapshot(path: str | PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The snapshot (or any Parquet artifact) as the steps read it: strings as plain `object`
    columns, as every backend's window reads them (not pandas categoricals, whose unused
    categories would change counts)."""
    with opened(path) as source:
        table = pq.read_table(source, columns=columns)
    plain = [
        pa.field(field.name, field.type.value_type) if pa.types.is_dictionary(field.type) else field
        for field in table.schema
    ]
    return table.cast(pa.schema(plain, metadata=table.schema.metadata)).to_pandas()
