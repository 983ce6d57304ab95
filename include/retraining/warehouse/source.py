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

from include.retraining.config import ModelConfig, SourceConfig
from include.retraining.warehouse.database import Database
from include.retraining.warehouse.reads import SourceRead, SourceTimestamps
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
    WarehouseError,
    aware_utc,
    plain_frame,
    source_name,
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


class Warehouse(Database):
    """A model's source database: its windows read whole, streamed, sampled or aggregated."""

    def source_columns(self, source: SourceConfig, *, model: str | None = None) -> set[str]:
        return SourceRead(self, source, model).columns()

    def check_timestamps(self, config: ModelConfig, source: SourceConfig | None = None) -> SourceTimestamps:
        """The rows of `source` (the model's own by default; scoring's may differ) without a
        usable time (`SourceTimestamps`), after checking the column's type; more than
        `source.max_null_timestamp_share` of them stops the read, with the model, the column, the
        count and the fix."""
        source = source or config.source
        read = SourceRead(self, source, config.name)
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
    ) -> tuple[SourceRead, WindowQuery]:
        """The read and its query, once every requested column is known to exist in the source."""
        read = SourceRead(self, source, model)
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
        flags = read.boolean_columns(features.numeric)
        for i, column in enumerate(features.numeric):
            quoted = f"CAST({self.quote(column)} AS int)" if column in flags else self.quote(column)
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

    def _read(self, config: ModelConfig) -> SourceRead:
        return SourceRead(self, config.source, config.name)

    def _where(self, source: SourceConfig) -> tuple[str, str]:
        """The source relation and its window condition, for the warehouse-side reads: ADBC's $1 $2
        on PostgreSQL, SQLAlchemy's named bounds elsewhere (`SourceRead.fetch` binds either)."""
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
