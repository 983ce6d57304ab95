"""The warehouse adapter: every SQL statement of the project, over SQLAlchemy.

It reads a time window of a model's source, replaces a window of a table, and keeps the
`model_monitoring` table (one row per monitoring interval). It owns the engine lifetime: one
engine per call, created and disposed in `open_engine`, so no caller holds a connection pool.

Any SQLAlchemy URL works; PostgreSQL is first-class and is read in bulk through ADBC
(Arrow), which on 1M rows took 1.8 s against 11.8 s and 4x the memory for `pandas.read_sql`.
Postgres sessions run in UTC with connect and statement timeouts, reads read-only. Identifiers
are validated in the YAML and quoted here; values are bound parameters, but for the window bounds
of an ADBC read (`timestamptz_literal`, datetimes only): with parameters the driver cannot stream
through COPY, and libpq holds the whole result (a 1M-row window: 404 MB, not 66 MB). The driver's
types are made plain in `warehouse_types`, so every backend's windows look alike to the steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine, make_url

from include.retraining.config.model import SourceConfig, is_identifier
from include.retraining.warehouse.types import (
    WarehouseError,
    aware_utc,
    naive_utc,
    plain_batch,
    plain_frame,
    plain_schema,
    refusal,
    source_name,
    sqlite_state,
    timestamptz_literal,
    who,
)

CONNECT_TIMEOUT_S = 15
# Writes (a window reload, one monitoring row) are small; reads use the model's own limit.
WRITE_TIMEOUT_S = 300


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
    sql = f"SELECT {selected} FROM {relation} WHERE {ts} > {low} AND {ts} <= {high} ORDER BY {', '.join(order)}"
    if paramstyle == "inline":
        return WindowQuery(sql, {})
    bound = naive_utc if paramstyle == "named" else aware_utc
    return WindowQuery(sql, {"window_start": bound(start), "window_end": bound(end)})


def render_url(raw: str) -> str:
    """A SQLAlchemy URL string in its canonical form, password included (for connecting, never logging)."""
    return str(make_url(raw).render_as_string(hide_password=False))


def url_password(url: str) -> str | None:
    """The password in a warehouse URL, so whoever resolves the URL can register it with a masker."""
    return make_url(url).password


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _pg_options(timeout_s: int, read_only: bool) -> str:
    options = f"-c statement_timeout={int(timeout_s * 1000)} -c TimeZone=UTC"
    return options + (" -c default_transaction_read_only=on" if read_only else "")


def _create_engine(url: str, timeout_s: int, read_only: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            # The embedded warehouse lives in the data folder, which a fresh clone does not have yet.
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_pre_ping=True)
        if read_only:
            sa.event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA query_only = ON"))
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg"):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, "options": _pg_options(timeout_s, read_only)}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


@contextmanager
def open_engine(url: str, timeout_s: int = WRITE_TIMEOUT_S, read_only: bool = False) -> Iterator[Engine]:
    """The one place an engine is created and disposed: each call gets its own, closed after."""
    engine = _create_engine(url, timeout_s, read_only)
    try:
        yield engine
    finally:
        engine.dispose()


def libpq_uri(url: str, timeout_s: int, read_only: bool = True) -> str:
    """ADBC wants a plain libpq URI: no +driver suffix; a UTC session with timeouts, read-only
    unless a bulk write (the predictions table) asks otherwise."""
    parsed = make_url(url).set(drivername="postgresql")
    query = {**parsed.query, "connect_timeout": str(CONNECT_TIMEOUT_S)}
    query["options"] = " ".join(filter(None, [query.get("options"), _pg_options(timeout_s, read_only)]))
    # libpq decodes %20, not the '+' SQLAlchemy writes for a space.
    base = parsed.set(query={}).render_as_string(hide_password=False)
    return f"{base}?{urlencode(query, quote_via=quote)}"


@dataclass(frozen=True)
class WindowRead:
    """One read of a model's source: who asks (for the messages) and under which limit."""

    url: str
    source: SourceConfig
    model: str | None

    @property
    def timeout_s(self) -> int:
        return self.source.statement_timeout_seconds

    def fetch(self, sql: str, params: Sequence[datetime] = ()) -> pd.DataFrame:
        """Run one SELECT; SQL the warehouse refuses becomes a WarehouseError that names the fix."""
        if not is_postgres(self.url):
            return self._fetch_sqlalchemy(sql, params)
        with self.batches(sql, params) as reader:
            return reader.read_all().to_pandas()

    @contextmanager
    def batches(self, sql: str, params: Sequence[datetime] = ()) -> Iterator[pa.RecordBatchReader]:
        """One SELECT on PostgreSQL as plain Arrow record batches, streamed when it has no
        parameters (COPY: batches of about 14 MB, made plain one at a time)."""
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(libpq_uri(self.url, self.timeout_s)) as conn, conn.cursor() as cursor:
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

    def _fetch_sqlalchemy(self, sql: str, params: Sequence[datetime]) -> pd.DataFrame:
        names = ("window_start", "window_end")[: len(params)]
        statement = sa.text(sql).bindparams(*(sa.bindparam(n, type_=sa.DateTime()) for n in names))
        with open_engine(self.url, self.timeout_s, read_only=True) as engine, engine.connect() as conn:
            try:
                return pd.read_sql(statement, conn, params=dict(zip(names, params, strict=True)))
            except sa.exc.DBAPIError as exc:
                state = getattr(exc.orig, "pgcode", None) or sqlite_state(str(exc.orig))
                error = refusal(exc.orig, state, self.model, self.source)
                if error is None:
                    raise
                raise error from exc

    def columns(self) -> set[str]:
        """The source's column names, read before the window so a missing one is named, not a driver trace."""
        if self.source.table:
            return self._table_columns()
        escape = not is_postgres(self.url)
        probe = f"SELECT * FROM {source_relation(self.source, postgresql.dialect(), escape)} LIMIT 0"
        return set(self.fetch(probe).columns)

    def _table_columns(self) -> set[str]:
        schema, _, table = self.source.table.rpartition(".")
        with open_engine(self.url, self.timeout_s, read_only=True) as engine:
            inspector = sa.inspect(engine)
            if not inspector.has_table(table, schema=schema or None):
                raise WarehouseError(
                    f"{who(self.model)}table {self.source.table!r} does not exist in the warehouse "
                    f"{make_url(self.url)!r}; check `source.table` in the model file or load the data first"
                )
            return {c["name"] for c in inspector.get_columns(table, schema=schema or None)}


def _window_read(
    url: str, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, model: str
) -> tuple[WindowRead, WindowQuery]:
    """The read and its query, once every requested column is known to exist in the source."""
    read = WindowRead(url, source, model)
    present = read.columns()
    missing = [c for c in dict.fromkeys(columns) if c not in present]
    if missing:
        raise WarehouseError(
            f"{who(model)}{source_name(source)} has no column(s) {missing}; fix `features`, `target` or "
            f"`source` in the model file, or the upstream load (present: {sorted(present)})"
        )
    if is_postgres(url):
        return read, window_query(source, columns, start, end, postgresql.dialect(), paramstyle="inline")
    return read, window_query(source, columns, start, end, make_url(url).get_dialect()())


def read_window(
    url: str,
    source: SourceConfig,
    columns: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    model: str,
) -> pd.DataFrame:
    """Rows of the source with start < timestamp <= end, ordered by timestamp (and id).

    Timestamps come back as naive UTC, numbers (Postgres `numeric` included) as floats.
    """
    read, query = _window_read(url, source, columns, start, end, model)
    return plain_frame(read.fetch(query.sql, list(query.params.values())), source.timestamp_column)


@contextmanager
def window_batches(
    url: str, source: SourceConfig, columns: Sequence[str], start: datetime, end: datetime, *, model: str
) -> Iterator[pa.RecordBatchReader]:
    """`read_window`'s rows as Arrow record batches: streamed from PostgreSQL, so no whole window
    is ever held; other backends read the frame (small, embedded) and hand out its batches."""
    if not is_postgres(url):
        frame = read_window(url, source, columns, start, end, model=model)
        yield pa.Table.from_pandas(frame, preserve_index=False).to_reader()
        return
    read, query = _window_read(url, source, columns, start, end, model)
    with read.batches(query.sql, list(query.params.values())) as reader:
        yield reader


def replace_rows(url: str, table: str, frame: pd.DataFrame, where: str, params: dict[str, Any]) -> None:
    """Delete the rows `where` selects and append the frame, in one transaction."""
    schema, _, name = table.rpartition(".")
    dated = [sa.bindparam(key, type_=sa.DateTime()) for key, value in params.items() if isinstance(value, datetime)]
    with open_engine(url) as engine, engine.begin() as conn:
        if sa.inspect(conn).has_table(name, schema=schema or None):
            delete = f"DELETE FROM {quote_name(engine.dialect, table)} WHERE {where}"
            conn.execute(sa.text(delete).bindparams(*dated), params)
        method = None if is_postgres(url) else "multi"
        frame.to_sql(name, conn, schema=schema or None, if_exists="append", index=False, method=method, chunksize=5000)


def replace_window(
    url: str, table: str, frame: pd.DataFrame, timestamp_column: str, start: datetime, end: datetime
) -> int:
    """Replace the rows of one time window in one transaction, so a reload never duplicates."""
    ts = quote_name(make_url(url).get_dialect()(), timestamp_column)
    replace_rows(url, table, frame, f"{ts} > :s AND {ts} <= :e", {"s": naive_utc(start), "e": naive_utc(end)})
    return len(frame)
