"""The SQL the warehouse reads are made of, as text: quoted names, a model's source as a relation,
a window's SELECT, and the id-hash sample's condition. Pure: no connection here."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from include.retraining.config import SourceConfig, is_identifier
from include.retraining.warehouse.types import WarehouseError, aware_utc, naive_utc, timestamptz_literal

# The id hash's range: a sample keeps the ids hashing below a threshold in [0, HASH_SPACE].
HASH_SPACE = 2**32


@dataclass(frozen=True)
class WindowQuery:
    sql: str
    params: dict[str, datetime]


def quote_name(dialect: sa.Dialect, name: str) -> str:
    parts = name.split(".")
    if len(parts) > 2 or not all(is_identifier(part) for part in parts):
        raise WarehouseError(f"{name!r} is not a valid SQL identifier")
    return ".".join(dialect.identifier_preparer.quote_identifier(part) for part in parts)


def source_relation(source: SourceConfig, dialect: sa.Dialect, escape_colons: bool) -> str:
    if source.table:
        return quote_name(dialect, source.table)
    # Newlines, so a trailing `-- comment` in the query cannot swallow the closing parenthesis;
    # escaped colons, so SQLAlchemy's text() leaves ':x' in the user's literals alone.
    query = source.query.replace(":", "\\:") if escape_colons else source.query
    return f"(\n{query}\n) AS source_rows"


def window_query(
    source: SourceConfig,
    columns: Sequence[str],
    start: datetime,
    end: datetime,
    dialect: sa.Dialect,
    paramstyle: Literal["named", "numeric", "inline"] = "named",
) -> WindowQuery:
    """SELECT the given columns for rows with start < timestamp <= end, in a stable order.

    `named` is for SQLAlchemy's text() (bounds naive UTC, as stored); `numeric` ($1, $2) is for
    ADBC, which binds the bounds as timestamptz in UTC, exact against any column type; `inline`
    writes those timestamptz bounds into the SQL, so ADBC streams the rows through COPY.
    """
    ts = quote_name(dialect, source.timestamp_column)
    relation = source_relation(source, dialect, escape_colons=paramstyle == "named")
    selected = ", ".join(quote_name(dialect, c) for c in dict.fromkeys(columns))
    order = [ts] + ([quote_name(dialect, source.id_column)] if source.id_column else [])
    low, high = {"named": (":window_start", ":window_end"), "numeric": ("$1", "$2")}.get(
        paramstyle, (timestamptz_literal(start), timestamptz_literal(end))
    )
    where = f"{ts} > {low} AND {ts} <= {high}"
    if dialect.name == "sqlite":
        # SQLite keeps times as text: one that is not a time belongs to no window (counted by
        # `Warehouse.check_timestamps`), as a NULL does, instead of failing the parse of the window.
        where += f" AND datetime({ts}) IS NOT NULL"
    sql = f"SELECT {selected} FROM {relation} WHERE {where} ORDER BY {', '.join(order)}"
    if paramstyle == "inline":
        return WindowQuery(sql, {})
    bound = naive_utc if paramstyle == "named" else aware_utc
    return WindowQuery(sql, {"window_start": bound(start), "window_end": bound(end)})


def hash_below(key: str, threshold: int, backend: str = "postgresql") -> str:
    """The sample's one definition, in SQL: true for rows whose quoted id column `key` hashes below
    `threshold`, the hash being a deterministic function of the id as text in [0, 2^32), one per
    backend (`HASHES`). Source rows and served predictions filtered with the same threshold on the
    same backend keep the same ids.

    - PostgreSQL: the low 32 bits of `hashtextextended`, the hash its hash partitioning routes text
      keys with, about 10x cheaper than md5 (docs/decisions.md, `training.sample_rows`).
      `COLLATE "C"`: a nondeterministic collation on either table's id column would otherwise hash
      'C123' and 'c123' alike, and the served predictions would stop following the sampled ids.
    - MySQL/MariaDB: `CRC32` of the id's UTF-8 text (whatever the column's or session's charset).
    - DuckDB: the low 32 bits of `md5_number` of the id's text (its own `hash()` is not promised
      to stay the same across versions, md5 is).

    CRC32 and md5 are standard, so `python_hash` computes the same values outside the database
    (served predictions kept in another backend are filtered with it); `hashtextextended` has no
    such twin. SQLite has no hash at all: it samples nothing (`WarehouseError`)."""
    template = HASHES.get(_family(backend))
    if template is None:
        raise WarehouseError(f"the {backend} warehouse has no id hash to sample with")
    return f"{template.format(key=key)} < {threshold:d}"


# The id hash per backend family, as SQL over a quoted id column `{key}`: values in [0, 2^32).
HASHES = {
    "postgresql": '(hashtextextended(CAST({key} AS text) COLLATE "C", 0) & 4294967295)',
    "mysql": "CRC32(CAST({key} AS CHAR CHARACTER SET utf8mb4))",
    "duckdb": "(md5_number(CAST({key} AS VARCHAR)) % 4294967296)",
}


def _family(backend: str) -> str:
    return "mysql" if backend == "mariadb" else backend


def same_hash(backend: str, other: str) -> bool:
    """Whether two backends hash ids alike in SQL (MySQL and MariaDB do)."""
    return _family(backend) == _family(other) and _family(backend) in HASHES


def python_hash(backend: str) -> Callable[[str], int] | None:
    """`hash_below`'s hash of one id (as text) computed in Python, for the backends whose hash is a
    standard function; None for PostgreSQL's `hashtextextended` (and backends without a hash)."""
    family = _family(backend)
    if family == "mysql":
        return lambda text: zlib.crc32(text.encode("utf-8"))
    if family == "duckdb":
        # md5_number is the digest read as a little-endian 128-bit integer: its low 32 bits are the first 4 bytes.
        return lambda text: int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:4], "little")
    return None


def cast_float(dialect: sa.Dialect, expression: str) -> str:
    """`expression` as a double in this dialect's SQL."""
    kind = {"postgresql": "double precision", "sqlite": "REAL"}.get(dialect.name, "DOUBLE")
    return f"CAST({expression} AS {kind})"


def cast_text(dialect: sa.Dialect, expression: str) -> str:
    """`expression` as text that groups case-sensitively, as pandas tells categories apart: MySQL's
    default collations would count 'North' and 'north' as one (its binary collation pads trailing
    spaces still: 'a' and 'a ' stay one category there)."""
    if dialect.name in ("mysql", "mariadb"):
        return f"CAST({expression} AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin"
    return f"CAST({expression} AS {'VARCHAR' if dialect.name == 'duckdb' else 'text'})"


def sample_threshold(rows: int, sample_rows: int) -> int:
    """Hash values below this are kept: about `sample_rows` of `rows` (all when rows <= sample_rows)."""
    if rows <= sample_rows:
        return HASH_SPACE
    return int(HASH_SPACE * sample_rows / rows)
