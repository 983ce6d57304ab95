"""The warehouse does the heavy lifting (part of the warehouse adapter): a deterministic sample of
a window drawn in the warehouse, and whole-window aggregates computed there, so a worker never
holds a window larger than its memory (`training.sample_rows`, and the monitor's windows through
`read_monitor_window`).

The sample keeps the rows whose id hashes below a threshold: PostgreSQL's `hashtextextended` of
the id as text (seed 0), its low 32 bits as a non-negative integer, below `fraction * 2^32`, where
the fraction is `sample_rows` over the window's row count. Same window and rows, same count, same
sample: a rerun is identical. Every snapshot of a sampled id is kept (hashing the id, not the row),
so one entity's rows are never split between kept and dropped. PostgreSQL only
(`hashtextextended`); other backends are refused with the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy.dialects import postgresql

from include.retraining.config.model import ModelConfig, SourceConfig
from include.retraining.warehouse.reads import WindowRead, is_postgres, quote_name, read_window, source_relation
from include.retraining.warehouse.types import WarehouseError, aware_utc, plain_frame, who

HASH_SPACE = 2**32


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


def _check_postgres(url: str, model: str) -> None:
    if not is_postgres(url):
        raise WarehouseError(
            f"{who(model)}training.sample_rows draws its sample in the warehouse and needs PostgreSQL; "
            "remove training.sample_rows for this warehouse"
        )


def hash_below(key: str, threshold: int) -> str:
    """The sample's one definition, in SQL: true for rows whose quoted id column `key` hashes below
    `threshold` (the low 32 bits of `hashtextextended` of the id as text, a bigint in
    [0, 2^32)). Source rows and served predictions filtered with the same threshold keep the same
    ids. It is the hash PostgreSQL's hash partitioning routes text keys with, about 10x cheaper
    than md5 (docs/decisions.md, `training.sample_rows`). `COLLATE "C"`: a nondeterministic
    collation on either table's id column would otherwise hash 'C123' and 'c123' alike, and the
    served predictions would stop following the sampled ids."""
    return f'(hashtextextended(CAST({key} AS text) COLLATE "C", 0) & 4294967295) < {threshold:d}'


def _where(source: SourceConfig) -> tuple[str, str]:
    dialect = postgresql.dialect()
    relation = source_relation(source, dialect, escape_colons=False)
    ts = quote_name(dialect, source.timestamp_column)
    return relation, f"{ts} > $1 AND {ts} <= $2"


def _bounds(start: datetime, end: datetime) -> list[datetime]:
    return [aware_utc(start), aware_utc(end)]


def sample_threshold(rows: int, sample_rows: int) -> int:
    """Hash values below this are kept: about `sample_rows` of `rows` (all when rows <= sample_rows)."""
    if rows <= sample_rows:
        return HASH_SPACE
    return int(HASH_SPACE * sample_rows / rows)


def read_window_sample(
    url: str, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime
) -> tuple[pd.DataFrame, int]:
    """The window's hash sample, ordered as `read_window` orders it, and the window's row count."""
    source, model = config.source, config.name
    _check_postgres(url, model)
    if not source.id_column:
        raise WarehouseError(f"{who(model)}training.sample_rows hashes the id: set source.id_column")
    rows = window_rows(url, config, start, end)
    threshold = sample_threshold(rows, config.training.sample_rows)
    return _read_below(url, config, columns, start, end, threshold), rows


def window_rows(url: str, config: ModelConfig, start: datetime, end: datetime) -> int:
    """How many rows the window holds, counted by the warehouse (PostgreSQL)."""
    read = WindowRead(url, config.source, config.name)
    relation, where = _where(config.source)
    return int(read.fetch(f"SELECT count(*) AS n FROM {relation} WHERE {where}", _bounds(start, end))["n"].iloc[0])


def _read_below(
    url: str, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime, threshold: int
) -> pd.DataFrame:
    """The window's rows whose id hashes below threshold, ordered as `read_window` orders them."""
    source = config.source
    relation, where = _where(source)
    dialect = postgresql.dialect()
    ts, key = quote_name(dialect, source.timestamp_column), quote_name(dialect, source.id_column)
    selected = ", ".join(quote_name(dialect, c) for c in dict.fromkeys(columns))
    sql = f"SELECT {selected} FROM {relation} WHERE {where} AND {hash_below(key, threshold)} ORDER BY {ts}, {key}"
    read = WindowRead(url, source, config.name)
    return plain_frame(read.fetch(sql, _bounds(start, end)), source.timestamp_column)


def read_monitor_window(
    url: str, config: ModelConfig, columns: Sequence[str], start: datetime, end: datetime, max_rows: int
) -> SampledWindow:
    """The rows of start < timestamp <= end a monitor compares: every row when the window holds at
    most `max_rows`, else about `max_rows` of them (those whose id hashes below the threshold).

    On PostgreSQL the window is counted first (an aggregate over its index range) and only the
    sample crosses the wire; the same window, rows and bound give the same sample on a rerun.
    Every other backend, and a source without `source.id_column` (nothing to hash), read the
    whole window as before. Rows come back as `warehouse.read_window` returns them.
    """
    source = config.source
    if is_postgres(url) and source.id_column:
        rows = window_rows(url, config, start, end)
        threshold = sample_threshold(rows, max_rows)
        if threshold < HASH_SPACE:
            return SampledWindow(_read_below(url, config, columns, start, end, threshold), rows, threshold)
    frame = read_window(url, source, columns, start, end, model=config.name)
    return SampledWindow(frame, len(frame))


def window_aggregates(url: str, config: ModelConfig, start: datetime, end: datetime) -> WindowAggregates:
    """Row count, nulls per feature, min/max of numeric features and category counts, over every
    row of the window, each computed by the warehouse."""
    source, features = config.source, config.features
    _check_postgres(url, config.name)
    read = WindowRead(url, source, config.name)
    relation, where = _where(source)
    dialect = postgresql.dialect()
    parts = ["count(*) AS n"]
    for i, column in enumerate(features.columns):
        parts.append(f"count({quote_name(dialect, column)}) AS c{i}")
    for i, column in enumerate(features.numeric):
        quoted = quote_name(dialect, column)
        parts += [
            f"CAST(min({quoted}) AS double precision) AS lo{i}",
            f"CAST(max({quoted}) AS double precision) AS hi{i}",
        ]
    totals = read.fetch(f"SELECT {', '.join(parts)} FROM {relation} WHERE {where}", _bounds(start, end)).iloc[0]
    rows = int(totals["n"])
    categories = {}
    for column in features.categorical:
        quoted = quote_name(dialect, column)
        counts = read.fetch(
            f"SELECT CAST({quoted} AS text) AS v, count(*) AS n FROM {relation} WHERE {where} AND {quoted} IS NOT NULL "
            f"GROUP BY 1",
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


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
