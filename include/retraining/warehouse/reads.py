"""One read of a model's source, as every warehouse read starts: the source's columns and the type
of its timestamp checked first, so a missing column or a text timestamp is named with its fix, not
a driver trace; then the SELECT, whole (a DataFrame) or streamed (Arrow batches, PostgreSQL), its
refusals turned into `WarehouseError`s that name the fix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from include.retraining.config import SourceConfig
from include.retraining.warehouse.database import Database
from include.retraining.warehouse.sql import quote_name, source_relation
from include.retraining.warehouse.types import (
    NotUtf8Text,
    WarehouseError,
    naive_utc,
    not_utf8,
    plain_batch,
    plain_schema,
    refusal,
    source_name,
    sqlstate,
    who,
)


@dataclass(frozen=True)
class SourceTimestamps:
    """How many rows the whole source holds and how many of them have no usable time (a NULL
    timestamp, or text that is not one): those belong to no window, so no read ever sees them."""

    rows: int
    undated: int

    @property
    def share(self) -> float:
        return self.undated / self.rows if self.rows else 0.0


# What the window filter can compare with its bounds, as each backend names its types: pg_typeof's,
# DuckDB's typeof(), and MySQL's protocol type codes (the type of a result column, even of no row).
_TIME_TYPES = {
    "postgresql": ("timestamp without time zone", "timestamp with time zone", "date"),
    "duckdb": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"),
    "mysql": ("TIMESTAMP", "DATE", "DATETIME", "NEWDATE"),
}
_MYSQL_TYPES = {
    0: "DECIMAL", 1: "TINYINT", 2: "SMALLINT", 3: "INT", 4: "FLOAT", 5: "DOUBLE", 7: "TIMESTAMP", 8: "BIGINT",
    9: "MEDIUMINT", 10: "DATE", 11: "TIME", 12: "DATETIME", 13: "YEAR", 14: "NEWDATE", 15: "VARCHAR",
    245: "JSON", 246: "DECIMAL", 252: "TEXT", 253: "VARCHAR", 254: "CHAR",
}  # fmt: skip


@dataclass(frozen=True)
class SourceRead:
    """One read of a model's source: who asks (for the messages) and under which limit."""

    db: Database
    source: SourceConfig
    model: str | None

    @property
    def timeout_s(self) -> int:
        return self.source.statement_timeout_seconds

    def fetch(self, sql: str, params: Sequence[datetime] = ()) -> pd.DataFrame:
        """Run one SELECT; SQL the warehouse refuses becomes a WarehouseError that names the fix."""
        if not self.db.is_postgres:
            return self._fetch_sqlalchemy(sql, params)
        with self.batches(sql, params) as reader:
            return reader.read_all().to_pandas()

    @contextmanager
    def batches(self, sql: str, params: Sequence[datetime] = ()) -> Iterator[pa.RecordBatchReader]:
        """One SELECT on PostgreSQL as plain Arrow record batches, streamed when it has no
        parameters (COPY: batches of about 14 MB, made plain one at a time)."""
        import adbc_driver_manager

        with self.db.adbc(self.timeout_s) as conn, conn.cursor() as cursor:
            try:
                cursor.execute(sql, tuple(params) or None)
                # The driver's own reader: an error mid-stream (a timeout, a write) keeps its
                # SQLSTATE; fetch_record_batch() hands out the bare pyarrow one (arrow-adbc#1523).
                driver = cursor._results.reader
                yield pa.RecordBatchReader.from_batches(
                    plain_schema(driver.schema), (plain_batch(batch) for batch in driver)
                )
            except adbc_driver_manager.Error as exc:  # at execute, or mid-stream (a timeout)
                error = refusal(exc, getattr(exc, "sqlstate", None), self.model, self.source)
                if error is None:
                    raise
                raise error from exc
            except NotUtf8Text as exc:  # a batch made plain, wherever the reader is consumed
                raise not_utf8(exc, self.model, self.source) from None

    def _fetch_sqlalchemy(self, sql: str, params: Sequence[datetime]) -> pd.DataFrame:
        names = ("window_start", "window_end")[: len(params)]
        statement = sa.text(sql).bindparams(*(sa.bindparam(n, type_=sa.DateTime()) for n in names))
        # Naive UTC, as stored: each session runs in UTC, so a zoned column compares exactly too.
        bounds = {name: naive_utc(value) for name, value in zip(names, params, strict=True)}
        with self.db.engine(self.timeout_s, read_only=True) as engine, engine.connect() as conn:
            try:
                return pd.read_sql(statement, conn, params=bounds)
            except sa.exc.DBAPIError as exc:
                state = sqlstate(exc.orig)
                error = not_utf8(exc.orig, self.model, self.source) or refusal(exc.orig, state, self.model, self.source)
                if error is None:
                    raise
                raise error from exc

    def _result_type_codes(self, sql: str) -> list[object]:
        """The DBAPI type codes of a SELECT's result columns (MySQL's protocol answers them for no
        row). On the driver's own cursor, without parameters: a '%' in a `source.query` stays SQL."""
        with self.db.engine(self.timeout_s, read_only=True) as engine, engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(sql)
                return [column[1] for column in cursor.description]
            except engine.dialect.loaded_dbapi.Error as exc:
                error = refusal(exc, sqlstate(exc), self.model, self.source)
                if error is None:
                    raise
                raise error from exc
            finally:
                cursor.close()

    def columns(self) -> set[str]:
        """The source's column names, read before the window so a missing one is named, not a driver trace."""
        if self.source.table:
            return self._table_columns()
        probe = f"SELECT * FROM {source_relation(self.source, self.db.dialect, not self.db.is_postgres)} LIMIT 0"
        return set(self.fetch(probe).columns)

    def require(self, columns: Sequence[str]) -> None:
        """Name the model file's fix when the source lacks a column the read needs."""
        present = self.columns()
        missing = [c for c in dict.fromkeys(columns) if c not in present]
        if missing:
            raise WarehouseError(
                f"{who(self.model)}{source_name(self.source)} has no column(s) {missing}; fix `features`, `target` "
                f"or `source` in the model file, or the upstream load (present: {sorted(present)})"
            )

    def check_timestamp_type(self) -> None:
        """Refuse a timestamp column the window filter cannot compare with its bounds (text,
        varchar, an epoch number) on PostgreSQL, MySQL/MariaDB and DuckDB, with the fix; SQLite
        keeps times as text."""
        kind = self._timestamp_type()
        if kind is None or kind in _TIME_TYPES["mysql" if self.db.is_mysql else self.db.backend]:
            return
        column = self.source.timestamp_column
        to = "DATETIME" if self.db.is_mysql else {"duckdb": "TIMESTAMPTZ"}.get(self.db.backend, "timestamptz")
        raise WarehouseError(
            f"{who(self.model)}source.timestamp_column {column!r} of {source_name(self.source)} is of type {kind}, "
            "not a timestamp, so the window filter cannot compare it with the window's bounds; cast it where the "
            f"model reads it: a view with CAST({column} AS {to}) AS {column} named in `source.table`, or a "
            f"`source.query` that selects CAST({column} AS {to}) AS {column}"
        )

    def _timestamp_type(self) -> str | None:
        """The timestamp column's type as the backend names it; None where it is not checked (SQLite)."""
        db, ts = self.db, quote_name(self.db.dialect, self.source.timestamp_column)
        if db.is_mysql:
            relation = source_relation(self.source, db.dialect, escape_colons=False)
            (code,) = self._result_type_codes(f"SELECT s.{ts} FROM (SELECT * FROM {relation}) AS s LIMIT 0")
            return _MYSQL_TYPES.get(code, f"type code {code}")  # type: ignore[call-overload]
        if not (db.is_postgres or db.is_duckdb):
            return None
        relation = source_relation(self.source, db.dialect, escape_colons=not db.is_postgres)
        typeof = f"pg_typeof(s.{ts})::text" if db.is_postgres else f"typeof(s.{ts})"
        # A LEFT JOIN to an empty read: the type function answers with the column's type even when
        # the source has no rows.
        sql = f"SELECT {typeof} AS t FROM (SELECT 1) AS one LEFT JOIN (SELECT * FROM {relation} LIMIT 0) AS s ON true"
        return str(self.fetch(sql)["t"].iloc[0])

    def boolean_columns(self, columns: Sequence[str]) -> set[str]:
        """Those of `columns` that are boolean on PostgreSQL, where min() and max() of a boolean do
        not exist (the aggregates take them as 0 and 1); none elsewhere, where they do."""
        if not (self.db.is_postgres and columns):
            return set()
        relation = source_relation(self.source, self.db.dialect, escape_colons=False)
        quoted = [quote_name(self.db.dialect, column) for column in columns]
        types = ", ".join(f"pg_typeof(s.{q})::text AS t{i}" for i, q in enumerate(quoted))
        sql = f"SELECT {types} FROM (SELECT 1) AS one LEFT JOIN (SELECT * FROM {relation} LIMIT 0) AS s ON true"
        found = self.fetch(sql).iloc[0]
        return {column for i, column in enumerate(columns) if found[f"t{i}"] == "boolean"}

    def timestamps(self) -> SourceTimestamps:
        """The source's rows and those without a usable time, counted by the warehouse (one scan
        of the source): NULL everywhere, and on SQLite also text that datetime() cannot read."""
        ts = quote_name(self.db.dialect, self.source.timestamp_column)
        relation = source_relation(self.source, self.db.dialect, escape_colons=not self.db.is_postgres)
        dated = f"datetime({ts})" if self.db.backend == "sqlite" else ts
        counts = self.fetch(f"SELECT count(*) AS n, count({dated}) AS dated FROM {relation}").iloc[0]
        rows = int(counts["n"])
        return SourceTimestamps(rows, rows - int(counts["dated"]))

    def _table_columns(self) -> set[str]:
        if not self.db.has_table(self.source.table):
            raise WarehouseError(
                f"{who(self.model)}table {self.source.table!r} does not exist in the warehouse "
                f"{self.db.display!r}; check `source.table` in the model file or load the data first"
            )
        return set(self.db.column_types(self.source.table))
