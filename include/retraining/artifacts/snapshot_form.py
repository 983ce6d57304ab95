"""The snapshot's form and content hash, one record batch at a time (part of `snapshots`).

Whatever wrote the rows (an ADBC stream from PostgreSQL, a pandas frame from SQLite), a snapshot
holds them in one form: strings dictionary-encoded, timestamps in nanoseconds, every other type
as the warehouse adapter made it plain. The hash covers column names, types and values in that
form, and is computed per column over a byte stream that does not depend on where batches
begin or end: the same rows give the same hash whether they came in one batch or in a thousand,
from a stream or from a frame. A missing value and a float NaN hash alike (pandas cannot tell
them apart, and a snapshot read back into pandas must hash as it was written).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

import numpy as np
import pyarrow as pa

STRINGS = pa.dictionary(pa.int32(), pa.string())


def _logical_type(kind: pa.DataType) -> pa.DataType:
    """The type a column's values are hashed as: strings plain, timestamps in ns."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_timestamp(kind):
        return pa.timestamp("ns", kind.tz)  # as pandas holds them, so both paths write the same type
    return kind


def snapshot_schema(schema: pa.Schema, plain_strings: Collection[str] = ()) -> pa.Schema:
    """Strings dictionary-encoded, except `plain_strings` (the id: a dictionary of unique values
    only costs); no metadata (pandas' index notes differ between paths)."""
    fields = []
    for field in schema:
        kind = _logical_type(field.type)
        fields.append(
            pa.field(field.name, STRINGS if kind == pa.string() and field.name not in plain_strings else kind)
        )
    return pa.schema(fields)


def logical_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """One batch with the snapshot's types (`schema`), strings not yet encoded: what is hashed."""
    arrays = []
    for column, field in zip(batch.columns, schema, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        kind = _logical_type(field.type)
        arrays.append(column if column.type == kind else column.cast(kind))
    return pa.RecordBatch.from_arrays(arrays, names=schema.names)


def encoded_batch(logical: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A `logical_batch` as written: the dictionary columns of `schema` encoded."""
    arrays = [
        column.dictionary_encode() if field.type == STRINGS else column
        for column, field in zip(logical.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _string_parts(array: pa.Array) -> tuple[bytes, bytes]:
    """Lengths and the concatenated UTF-8 bytes of a string array (nulls as empty strings)."""
    array = array.cast(pa.string()).fill_null("")
    if len(array) == 0:
        return b"", b""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    data = array.buffers()[2]
    payload = memoryview(data)[offsets[0] : offsets[-1]] if data is not None else b""
    return np.diff(offsets).astype(np.int64).tobytes(), bytes(payload)


def _value_parts(array: pa.Array) -> tuple[bytes, bytes]:
    """(lengths, values) bytes of one column's batch, in a form independent of batch boundaries."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    if pa.types.is_null(kind):
        return b"", b""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_parts(array)
    if pa.types.is_temporal(kind):
        array = array.cast(pa.int64())
    if (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_temporal(kind)
    ):
        values = array.fill_null(False if pa.types.is_boolean(kind) else 0).to_numpy(zero_copy_only=False)
        if pa.types.is_floating(kind):
            values = np.where(np.isnan(values), 0.0, values)
        return b"", values.tobytes()
    # Any other type (decimal, list, ...): its values one by one, each ended, slow but exact.
    return b"", b"".join(repr(value).encode() + b"\x00" for value in array.to_pylist())


class ContentDigest:
    """The content hash of a snapshot, fed batch by batch; `rows` counts what it was fed."""

    def __init__(self, schema: pa.Schema) -> None:
        # Names and logical types: how strings are encoded in the file does not change the content.
        self._header = repr([(field.name, str(_logical_type(field.type))) for field in schema]).encode()
        # Per column: null flags, value lengths (strings), values.
        self._parts = [tuple(hashlib.sha256() for _ in range(3)) for _ in schema]
        self.rows = 0

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for column, (nulls, lengths, values) in zip(batch.columns, self._parts, strict=True):
            nulls.update(column.is_null(nan_is_null=True).to_numpy(zero_copy_only=False).tobytes())
            length_bytes, value_bytes = _value_parts(column)
            lengths.update(length_bytes)
            values.update(value_bytes)

    def hexdigest(self) -> str:
        digest = hashlib.sha256(self._header)
        for parts in self._parts:
            for part in parts:
                digest.update(part.digest())
        return digest.hexdigest()


def digest_of(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> ContentDigest:
    """The digest of batches (any encoding) of a snapshot of this schema."""
    digest = ContentDigest(schema)
    for batch in batches:
        digest.update(logical_batch(batch, schema))
    return digest
