"""The warehouse a model reads its rows from: windows of a model's source, streamed or whole, and
the work the warehouse does itself so a worker never holds a window larger than its memory (a
window's row count, its id-hash sample, its whole-window aggregates).

PostgreSQL is read in bulk through ADBC (Arrow): on 1M rows 1.8 s against 11.8 s and 4x the memory
for `pandas.read_sql`. Values are bound parameters, but for the window bounds of a streamed ADBC
read (`timestamptz_literal`, datetimes only): with parameters the driver cannot stream through
COPY, and libpq holds the whole result (a 1M-row window: 404 MB, not 66 MB). The driver's types
are made plain (`types.py`), so every backend's windows look alike to the steps.

Other backends (MySQL/MariaDB, DuckDB, SQLite) are read through SQLAlchemy into DataFrames, with
the window bounds bound as naive UTC (every session runs in UTC: `database.py`); the counts, the
sample and the aggregates are the same SQL in each one's dialect.

The sample keeps the rows whose id hashes below a threshold (`sql.hash_below`, a hash per backend),
the fraction being `sample_rows` over the window's row count: same window and rows, same sample,
and every snapshot of a sampled id is kept. SQLite has no hash: there `training.sample_rows` is
refused with the fix, and the monitor reads whole windows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from include.retraining.config import ModelConfig, SourceConfig
from include.retraining.warehouse.database import Database
from include.retraining.warehouse.sql import (
    HASH_SPACE,
    HASHES,
    WindowQuery,
    cast_float,
    cast_text,
    hash_below,
    quote_name,
    sample_threshold,
    source_relation,
    window_query,
)
from include.retraining.warehouse.types import (
    NotUtf8Text,
    WarehouseError,
    aware_utc,
    naive_utc,
    not_utf8,
    plain_batch,
    plain_frame,
    plain_schema,
    refusal,
    source_name,
    sqlstate,
    who,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowAggregates:
    """What validation needs of every row of a window, computed by the warehouse."""

    rows: int
    nulls: dict[str, int] = field(default_factory=dict)
    minimum: dict[str, float | None] = field(default_factory=dict)
    maximum: dict[str, float | None] = field(default_factory=dict)
    categories: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class SampledWindow:
    """A window as the monitor reads it: the rows read, how many the window holds (counted by the
    warehouse) and the hash threshold they were read below (`HASH_SPACE`: every row)."""

    frame: pd.DataFrame
    rows: int
    threshold: int = HASH_SPACE

    @property
    def sampled(self) -> bool:
        return self.threshold < HASH_SPACE


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
class _Read:
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


class Warehouse(Database):
    """A model's source database: its windows read whole, streamed, sampled or aggregated."""

    def source_columns(self, source: SourceConfig, *, model: str | None = None) -> set[str]:
        return _Read(self, source, model).columns()

    def check_timestamps(self, config: ModelConfig, source: SourceConfig | None = None) -> SourceTimestamps:
        """The rows of `source` (the model's own by default; scoring's may differ) without a
        usable time (`SourceTimestamps`), after checking the column's type; more than
        `source.max_null_timestamp_share` of them stops the read, with the model, the column, the
        count and the fix."""
        source = source or config.source
        read = _Read(self, source, config.name)
        read.require([source.timestamp_column])
        read.check_timestamp_type()
        counted = read.timestamps()
        log.log(
            logging.WARNING if counted.undated else logging.INFO,
            "model %s: %d of %d rows of %s have no usable %s (NULL or unreadable) and belong to no window "
            "(source.max_null_timestamp_share=%s)",
            config.name,
            counted.undated,
            counted.rows,
            source_name(source),
            source.timestamp_column,
            source.max_null_timestamp_share,
        )
        if counted.share > source.max_null_timestamp_share:
            raise WarehouseError(
                f"{who(config.name)}{counted.undated} of {counted.rows} rows ({counted.share:.1%}) of "
                f"{source_name(source)} have a NULL or unreadable source.timestamp_column "
                f"{source.timestamp_column!r}, more than source.max_null_timestamp_share="
                f"{source.max_null_timestamp_share}; those rows belong to no window. Fix the upstream load so "
                "every row has its time, or raise source.max_null_timestamp_share in the model file if they "
                "are meant to be left out"
            )
        return counted

    def read_window(
        self, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, *, model: str
    ) -> pd.DataFrame:
        """Rows of the source with start < timestamp <= end, ordered by timestamp (and id).

        Timestamps come back as naive UTC, numbers (Postgres `numeric` included) as floats.
        """
        read, query = self._window_read(source, columns, start, end, model)
        return plain_frame(read.fetch(query.sql, list(query.params.values())), source.timestamp_column)

    @contextmanager
    def window_batches(
        self, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, *, model: str
    ) -> Iterator[pa.RecordBatchReader]:
        """`read_window`'s rows as Arrow record batches: streamed from PostgreSQL, so no whole window
        is ever held; other backends read the frame (small, embedded) and hand out its batches."""
        if not self.is_postgres:
            frame = self.read_window(source, columns, start, end, model=model)
            yield pa.Table.from_pandas(frame, preserve_index=False).to_reader()
            return
        read, query = self._window_read(source, columns, start, end, model)
        with read.batches(query.sql, list(query.params.values())) as reader:
            yield reader

    def _window_read(
        self, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, model: str
    ) -> tuple[_Read, WindowQuery]:
        """The read and its query, once every requested column is known to exist in the source."""
        read = _Read(self, source, model)
        read.require(columns)
        read.check_timestamp_type()
        paramstyle = "inline" if self.is_postgres else "named"
        return read, window_query(source, columns, start, end, self.dialect, paramstyle=paramstyle)

    @property
    def can_sample(self) -> bool:
        """Whether the warehouse hashes ids in SQL (`sql.hash_below`): every backend but SQLite."""
        return self.is_mysql or self.backend in HASHES

    def window_rows(self, config: ModelConfig, start: datetime, end: datetime) -> int:
        """How many rows the window holds, counted by the warehouse."""
        relation, where = self._where(config.source)
        read = self._read(config)
        read.check_timestamp_type()
        sql = f"SELECT count(*) AS n FROM {relation} WHERE {where}"
        return int(read.fetch(sql, _bounds(start, end))["n"].iloc[0])

    def repeated_keys(self, config: ModelConfig, start: datetime, end: datetime) -> int:
        """How many (id, timestamp) pairs of the window occur more than once, counted by the
        warehouse; 0 for a source without `source.id_column`."""
        source = config.source
        if not source.id_column:
            return 0
        relation, where = self._where(source)
        read = self._read(config)
        read.check_timestamp_type()
        key, ts = self.quote(source.id_column), self.quote(source.timestamp_column)
        pairs = f"SELECT {key}, {ts} FROM {relation} WHERE {where} GROUP BY {key}, {ts} HAVING count(*) > 1"
        return int(read.fetch(f"SELECT count(*) AS n FROM ({pairs}) AS repeated", _bounds(start, end))["n"].iloc[0])

    def read_window_sample(
        self, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime
    ) -> tuple[pd.DataFrame, int]:
        """The window's hash sample (`training.sample_rows`), ordered as `read_window` orders it,
        and the window's row count."""
        self._check_sampling(config.name)
        if not config.source.id_column:
            raise WarehouseError(f"{who(config.name)}training.sample_rows hashes the id: set source.id_column")
        rows = self.window_rows(config, start, end)
        threshold = sample_threshold(rows, config.training.sample_rows)
        return self._read_below(config, columns, start, end, threshold), rows

    def read_monitor_window(
        self, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime, max_rows: int
    ) -> SampledWindow:
        """The rows of start < timestamp <= end a monitor compares: every row when the window holds
        at most `max_rows`, else about `max_rows` of them (those whose id hashes below the threshold).

        Where the warehouse hashes ids (`can_sample`: all but SQLite), the window is counted first (an
        aggregate over its index range) and only the sample crosses the wire; the same window, rows and
        bound give the same sample on a rerun. SQLite, and a source without `source.id_column`
        (nothing to hash), read the whole window. Rows come back as `read_window` returns them.
        """
        if self.can_sample and config.source.id_column:
            rows = self.window_rows(config, start, end)
            threshold = sample_threshold(rows, max_rows)
            if threshold < HASH_SPACE:
                return SampledWindow(self._read_below(config, columns, start, end, threshold), rows, threshold)
        frame = self.read_window(config.source, columns, start, end, model=config.name)
        return SampledWindow(frame, len(frame))

    def window_aggregates(self, config: ModelConfig, start: datetime, end: datetime) -> WindowAggregates:
        """Row count, nulls per feature, min/max of numeric features and category counts, over every
        row of the window, each computed by the warehouse (in its own dialect's SQL)."""
        features = config.features
        read, (relation, where) = self._read(config), self._where(config.source)
        read.check_timestamp_type()
        parts = ["count(*) AS n"]
        parts += [f"count({self.quote(column)}) AS c{i}" for i, column in enumerate(features.columns)]
        for i, column in enumerate(features.numeric):
            quoted = self.quote(column)
            parts += [
                f"{cast_float(self.dialect, f'min({quoted})')} AS lo{i}",
                f"{cast_float(self.dialect, f'max({quoted})')} AS hi{i}",
            ]
        totals = read.fetch(f"SELECT {', '.join(parts)} FROM {relation} WHERE {where}", _bounds(start, end)).iloc[0]
        rows = int(totals["n"])
        categories = {}
        for column in features.categorical:
            quoted = self.quote(column)
            counts = read.fetch(
                f"SELECT {cast_text(self.dialect, quoted)} AS v, count(*) AS n FROM {relation} WHERE {where} "
                f"AND {quoted} IS NOT NULL GROUP BY 1",
                _bounds(start, end),
            )
            categories[column] = {str(v): int(n) for v, n in zip(counts["v"], counts["n"], strict=True)}
        return WindowAggregates(
            rows=rows,
            nulls={c: rows - int(totals[f"c{i}"]) for i, c in enumerate(features.columns)},
            minimum={c: _number(totals[f"lo{i}"]) for i, c in enumerate(features.numeric)},
            maximum={c: _number(totals[f"hi{i}"]) for i, c in enumerate(features.numeric)},
            categories=categories,
        )

    def _read(self, config: ModelConfig) -> _Read:
        return _Read(self, config.source, config.name)

    def _where(self, source: SourceConfig) -> tuple[str, str]:
        """The source relation and its window condition, for the warehouse-side reads: ADBC's $1 $2
        on PostgreSQL, SQLAlchemy's named bounds elsewhere (`_Read.fetch` binds either)."""
        ts = quote_name(self.dialect, source.timestamp_column)
        if self.is_postgres:
            return source_relation(source, self.dialect, escape_colons=False), f"{ts} > $1 AND {ts} <= $2"
        where = f"{ts} > :window_start AND {ts} <= :window_end"
        if self.backend == "sqlite":  # as `window_query`: text that is not a time belongs to no window
            where += f" AND datetime({ts}) IS NOT NULL"
        return source_relation(source, self.dialect, escape_colons=True), where

    def _read_below(
        self, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime, threshold: int
    ) -> pd.DataFrame:
        """The window's rows whose id hashes below threshold, ordered as `read_window` orders them."""
        source = config.source
        relation, where = self._where(source)
        ts, key = self.quote(source.timestamp_column), self.quote(source.id_column)
        selected = ", ".join(self.quote(c) for c in dict.fromkeys(columns))
        below = hash_below(key, threshold, self.backend)
        sql = f"SELECT {selected} FROM {relation} WHERE {where} AND {below} ORDER BY {ts}, {key}"
        return plain_frame(self._read(config).fetch(sql, _bounds(start, end)), source.timestamp_column)

    def _check_sampling(self, model: str) -> None:
        if not self.can_sample:
            raise WarehouseError(
                f"{who(model)}training.sample_rows draws its sample in the warehouse by a hash of the id, and the "
                f"{self.backend} warehouse has none (PostgreSQL, MySQL/MariaDB and DuckDB do); remove "
                "training.sample_rows for this warehouse"
            )


def _bounds(start: datetime, end: datetime) -> list[datetime]:
    return [aware_utc(start), aware_utc(end)]


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
