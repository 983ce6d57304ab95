"""What the warehouse hands back, made plain: the types and the refusals of the warehouse adapter.

Through ADBC, Postgres `numeric(p,s)` arrives as strings ('21.00'), `boolean` as bools, `date`
as dates and `timestamptz` as tz-aware UTC; SQLite gives integers and text. Every step wants
one shape whatever the source: numbers as floats, timestamps as naive UTC (how the project
stores and compares them). And SQL the warehouse refuses is a configuration problem: it becomes
a `WarehouseError` that names the model, the table or column and the fix, instead of a driver
trace retried twice.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.retraining.config import SourceConfig


class WarehouseError(RuntimeError):
    """The warehouse could not serve a request; the message says which table or column and why."""


def naive_utc(moment: datetime) -> datetime:
    """Warehouse timestamps are stored as UTC without a zone; compare like with like."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware_utc(moment: datetime) -> datetime:
    """A bound for a timestamptz parameter: naive input is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def timestamptz_literal(moment: datetime) -> str:
    """A window bound written into SQL: only a datetime (never text) becomes a literal, in UTC."""
    if not isinstance(moment, datetime):
        raise TypeError(f"a window bound must be a datetime, not {type(moment).__name__}")
    return f"'{aware_utc(moment).isoformat()}'::timestamptz"


def _is_numeric(kind: pa.DataType) -> bool:
    return isinstance(kind, pa.BaseExtensionType) and getattr(kind, "type_name", None) == "numeric"


def _uuid_text(array: pa.Array) -> pa.Array:
    """uuid values (16 bytes each) as their canonical text, '8-4-4-4-12' lowercase hex, as
    PostgreSQL writes them: an id the predictions table keeps, and labels join by, as text."""
    import numpy as np

    storage = array.storage
    n = len(storage)
    raw = np.frombuffer(storage.buffers()[1], dtype=np.uint8)[storage.offset * 16 : (storage.offset + n) * 16]
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for (low, high), at in zip(((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), (0, 9, 14, 19, 24), strict=True):
        text[:, at : at + high - low] = hexed[:, low:high]
    binary = pa.array(text.view("S36").ravel(), type=pa.binary(), mask=storage.is_null().to_numpy(zero_copy_only=False))
    return pc.cast(binary, pa.string())


def plain_type(kind: pa.DataType) -> pa.DataType:
    """numeric -> float64, boolean -> float64, timestamptz -> naive UTC, date -> timestamp, uuid -> text."""
    if isinstance(kind, pa.UuidType):
        return pa.string()
    if _is_numeric(kind) or pa.types.is_boolean(kind):
        # A flag as SQLite stores it: 1.0 / 0.0, missing as NaN, so it is a number on every backend.
        return pa.float64()
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return pa.timestamp(kind.unit)  # the instant in UTC, zone dropped
    if pa.types.is_date(kind):
        return pa.timestamp("us")
    return kind


def _plain_array(array: pa.Array) -> pa.Array:
    target = plain_type(array.type)
    if target == array.type:
        return array
    if isinstance(array.type, pa.UuidType):
        return _uuid_text(array)
    return pc.cast(array.storage if _is_numeric(array.type) else array, target)


def plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(field.name, plain_type(field.type)) for field in schema])


def plain_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """One record batch of a streamed read made plain, as `plain_arrow` makes a whole table; text
    that is not UTF-8 raises `NotUtf8Text` naming its column."""
    columns = [_utf8_checked(name, _plain_array(c)) for name, c in zip(batch.schema.names, batch.columns, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=plain_schema(batch.schema))


def plain_arrow(table: pa.Table) -> pa.Table:
    """numeric -> float64, boolean -> float64, timestamptz -> naive UTC, date -> timestamp."""
    columns = [
        pa.chunked_array(
            [_utf8_checked(name, _plain_array(chunk)) for chunk in column.chunks], type=plain_type(column.type)
        )
        for name, column in zip(table.column_names, table.columns, strict=True)
    ]
    return pa.table(columns, names=table.column_names)


def plain_frame(frame: pd.DataFrame, timestamp_column: str) -> pd.DataFrame:
    """A frame read through SQLAlchemy as `plain_arrow` makes an Arrow table: zoned timestamps to
    naive UTC, DECIMAL (Decimal objects from MySQL/MariaDB and DuckDB) and booleans to float64,
    UUIDs to text; the timestamp column parsed when a driver gave text (SQLite) or dates."""
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            frame[name] = column.dt.tz_convert(UTC).dt.tz_localize(None)
        elif pd.api.types.is_bool_dtype(column):
            frame[name] = column.astype("float64")
        elif column.dtype == object:
            frame[name] = _plain_objects(column)
    ts = timestamp_column
    if ts in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[ts]):
        frame[ts] = pd.to_datetime(frame[ts], utc=True).dt.tz_localize(None)
    return frame


def _plain_objects(column: pd.Series) -> pd.Series:
    """A column of Python objects whose values are all Decimals (or bools) as float64, all UUIDs as text."""
    values = column.dropna()
    if not len(values):
        return column
    if all(isinstance(v, Decimal | bool) for v in values):
        return pd.to_numeric(column.map(lambda v: None if v is None else float(v)), errors="coerce").astype("float64")
    if all(isinstance(v, uuid.UUID) for v in values):
        return column.map(lambda v: None if v is None else str(v))
    return column


def who(model: str | None) -> str:
    return f"model {model!r}: " if model else ""


def source_name(source: SourceConfig) -> str:
    return f"table {source.table!r}" if source.table else "the `source.query`"


def _fix(sqlstate: str, source: SourceConfig) -> str | None:
    where = "`source.table`" if source.table else "`source.query`"
    if sqlstate == "57014":
        return (
            f"the read ran longer than source.statement_timeout_seconds={source.statement_timeout_seconds}; "
            f"raise it in the model file, index {source.timestamp_column!r}, or make the query cheaper"
        )
    if sqlstate == "25006":
        return "the source tried to write in a read-only session; `source.query` must only read (a plain SELECT)"
    if sqlstate == "42703":
        return f"a column is missing: fix `features`, `target` or {where} in the model file, or the upstream load"
    if sqlstate == "42P01":
        return f"a table is missing: check {where} in the model file, or load the data first"
    if sqlstate.startswith(("42", "0A", "22", "21")):
        return f"fix {where} in the model file (a single read-only SELECT of the columns the model needs)"
    return None


def refusal(exc: BaseException, sqlstate: str | None, model: str | None, source: SourceConfig) -> WarehouseError | None:
    """A WarehouseError naming the fix when the warehouse refused the SQL itself; None for a
    connection or server fault, which a retry may cure."""
    fix = _fix(sqlstate or "", source)
    if fix is None:
        return None
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if (sqlstate or "").startswith("22"):
        # A data exception quotes the value it choked on ('invalid input syntax ...: "twelve"'):
        # this message reaches alerts, and row values stay out of them.
        reason = _QUOTED.sub("<value>", reason)
    return WarehouseError(f"{who(model)}the warehouse refused the read of {source_name(source)} ({reason}); {fix}")


_QUOTED = re.compile("'[^']*'|\"[^\"]*\"")
_NOT_UTF8 = re.compile(r"Could not decode to UTF-8 column '([^']*)'")


class NotUtf8Text(ValueError):
    """A text column whose bytes are not UTF-8 (a SQL_ASCII PostgreSQL database hands them over as
    stored); only the column's name is kept, never the value."""

    def __init__(self, column: str) -> None:
        super().__init__(f"column {column!r} holds text that is not UTF-8")
        self.column = column


def _utf8_checked(name: str, array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        try:
            array.validate(full=True)  # checks each value's UTF-8, vectorised
        except pa.ArrowInvalid:
            raise NotUtf8Text(name) from None
    return array


def not_utf8(exc: BaseException, model: str | None, source: SourceConfig) -> WarehouseError | None:
    """A WarehouseError naming the column when the warehouse holds text that is not UTF-8 (a
    SQLite file, a SQL_ASCII PostgreSQL database); the undecodable value stays out of the message."""
    if isinstance(exc, NotUtf8Text):
        column = exc.column
    elif found := _NOT_UTF8.search(str(exc)):
        column = found.group(1)
    else:
        return None
    return WarehouseError(
        f"{who(model)}column {column!r} of {source_name(source)} holds text that is not UTF-8 (bytes of another "
        f"encoding, such as latin-1), which cannot be read; re-encode {column!r} as UTF-8 in the upstream load "
        "(decode the bytes with their real encoding before writing them), or for PostgreSQL keep the data in a "
        "UTF8 database rather than SQL_ASCII"
    )


# MySQL/MariaDB error numbers (the first of a driver error's args) as the SQLSTATE PostgreSQL gives.
_MYSQL_STATES = {
    1054: "42703",  # unknown column
    1146: "42P01",  # no such table
    1049: "3D000",  # unknown database
    1064: "42601",  # syntax error
    1792: "25006",  # a write in a READ ONLY transaction
    1969: "57014",  # MariaDB: max_statement_time exceeded
    3024: "57014",  # MySQL: max_execution_time exceeded
}
# DuckDB's exception classes, likewise (a read-only file refuses writes with an InvalidInputException).
_DUCKDB_STATES = {"BinderException": "42703", "CatalogException": "42P01", "ParserException": "42601"}


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE PostgreSQL would give for a driver's refusal (psycopg2, pymysql, DuckDB,
    SQLite), so every backend's refusals read the same way; None when it is no refusal known here."""
    if getattr(exc, "pgcode", None):
        return str(exc.pgcode)
    module = type(exc).__module__
    if module.startswith("pymysql") and exc.args and isinstance(exc.args[0], int):
        return _MYSQL_STATES.get(exc.args[0])
    if module.startswith(("duckdb", "_duckdb")):
        if "read-only mode" in str(exc):
            return "25006"
        return _DUCKDB_STATES.get(type(exc).__name__)
    return sqlite_state(str(exc))


def sqlite_state(message: str) -> str | None:
    """The SQLSTATE Postgres would give for a SQLite refusal, so both read the same way."""
    for text, state in (
        ("no such column", "42703"),
        ("no such table", "42P01"),
        ("syntax error", "42601"),
        ("readonly database", "25006"),
        ("query_only", "25006"),
    ):
        if text in message:
            return state
    return None


def id_text(values: pd.Series) -> pd.Series:
    """Source ids as text, as the predictions table keeps them: an integer id upcast to float by
    a driver (7 -> 7.0) stays "7"."""
    if pd.api.types.is_float_dtype(values) and values.dropna().apply(float.is_integer).all():
        return values.astype("Int64").astype(str)
    return values.astype(str)
