"""A SQL database behind a SQLAlchemy URL, as the pipeline connects to it: the one place an engine
(or, on PostgreSQL, an ADBC connection) is opened.

Each call of `engine()` or `adbc()` opens its own and closes it after, so no caller holds a
connection pool between calls. Every session reads times in UTC, read-only unless a write asks
otherwise, where the backend has each:

- PostgreSQL: `TimeZone=UTC`, `statement_timeout`, `default_transaction_read_only`.
- MySQL/MariaDB: `time_zone = '+00:00'` (a TIMESTAMP column reads as UTC; DATETIME holds no zone
  and is taken as UTC, as everywhere), `max_statement_time` (MariaDB, seconds) or
  `max_execution_time` (MySQL, milliseconds, SELECTs only), `SET SESSION TRANSACTION READ ONLY`.
- DuckDB: the file opened `read_only` (other processes may read it at the same time) with
  `TimeZone = 'UTC'` (a TIMESTAMPTZ reads as UTC, TIMESTAMP is taken as UTC). DuckDB has no
  statement timeout: `source.statement_timeout_seconds` does not apply there.
- SQLite: read-only sessions set `query_only`; no timeout either.

The URL, password included, never leaves the object: messages and logs get `display`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Engine, make_url

from include.retraining.warehouse.sql import quote_name

CONNECT_TIMEOUT_S = 15
# Writes (a window reload, one monitoring row) are small; reads use the model's own limit.
WRITE_TIMEOUT_S = 300


def _pg_options(timeout_s: int, read_only: bool) -> str:
    options = f"-c statement_timeout={int(timeout_s * 1000)} -c TimeZone=UTC"
    return options + (" -c default_transaction_read_only=on" if read_only else "")


def _mysql_session(dbapi_conn: Any, timeout_s: int, read_only: bool) -> None:
    """A MySQL/MariaDB session as the pipeline reads: UTC, a statement timeout, read-only unless asked."""
    server = str(dbapi_conn.get_server_info()) if hasattr(dbapi_conn, "get_server_info") else ""
    if "mariadb" in server.lower():
        timeout = f"max_statement_time = {int(timeout_s)}"
    else:
        timeout = f"max_execution_time = {int(timeout_s * 1000)}"
    statements = [f"SET SESSION time_zone = '+00:00', SESSION {timeout}"]
    if read_only:
        statements.append("SET SESSION TRANSACTION READ ONLY")
    cursor = dbapi_conn.cursor()
    try:
        for statement in statements:
            cursor.execute(statement)
    finally:
        cursor.close()


def _duckdb_type(kind: str) -> sa.types.TypeEngine:
    """A DuckDB type name as the SQLAlchemy type family the callers tell apart."""
    kind = kind.upper()
    if kind.startswith(("DECIMAL", "NUMERIC")):
        return sa.Numeric()
    if "INT" in kind and "INTERVAL" not in kind:
        return sa.Integer()
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return sa.Float()
    if kind.startswith(("TIMESTAMP", "DATE")):
        return sa.DateTime(timezone="TIME ZONE" in kind)
    return sa.String()


class Database:
    """One database: its dialect and quoting, and its connections, opened per call."""

    def __init__(self, url: str | URL) -> None:
        self._url = make_url(url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display})"

    @property
    def display(self) -> str:
        """The URL with its password hidden, for messages."""
        return self._url.render_as_string(hide_password=True)

    def same_database(self, other: Database) -> bool:
        """Whether `other` is this very connection (URL, account and all): one SQL statement may
        then join their tables."""
        return self._url.render_as_string(hide_password=False) == other._url.render_as_string(hide_password=False)

    @property
    def address(self) -> tuple[str | None, int | None, str | None]:
        """Host, port and database (SQLite's or DuckDB's file): to name it (lineage), not to connect."""
        return self._url.host, self._url.port, self._url.database

    @property
    def password(self) -> str | None:
        """The password, so whoever resolved the URL can register it with a log masker."""
        return self._url.password

    @property
    def backend(self) -> str:
        return self._url.get_backend_name()

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def is_mysql(self) -> bool:
        """MySQL or MariaDB (SQLAlchemy names the dialect `mysql` or `mariadb`)."""
        return self.backend in ("mysql", "mariadb")

    @property
    def is_duckdb(self) -> bool:
        return self.backend == "duckdb"

    @property
    def database_file(self) -> str | None:
        """The file of a SQLite or DuckDB database; None for a server's, or one in memory."""
        if self.backend != "sqlite" and not self.is_duckdb:
            return None
        database = self._url.database
        return None if database in (None, "", ":memory:") else database

    @property
    def dialect(self) -> sa.Dialect:
        """The dialect SQL is written for; PostgreSQL's whatever the driver (ADBC reads it too)."""
        return postgresql.dialect() if self.is_postgres else self._url.get_dialect()()

    def quote(self, name: str) -> str:
        """`table` or `schema.table` (or a column), quoted for this dialect."""
        return quote_name(self.dialect, name)

    @contextmanager
    def engine(self, timeout_s: int = WRITE_TIMEOUT_S, read_only: bool = False) -> Iterator[Engine]:
        """An engine for one call, disposed after."""
        engine = self._create_engine(timeout_s, read_only)
        try:
            yield engine
        finally:
            engine.dispose()

    def _create_engine(self, timeout_s: int, read_only: bool) -> Engine:
        url = self._url
        if self.backend == "sqlite":
            if url.database not in (None, "", ":memory:"):
                # The embedded warehouse lives in the data folder, which a fresh clone does not have yet.
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, pool_pre_ping=True)
            if read_only:
                sa.event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA query_only = ON"))
            return engine
        if self.is_duckdb:
            # No pool: the file is let go as soon as a call ends, so another process may open it.
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"read_only": read_only})
            # After connecting: the time zone setting needs the ICU extension, loaded by then.
            sa.event.listen(engine, "connect", lambda conn, _: conn.execute("SET TimeZone = 'UTC'"))
            return engine
        connect_args: dict[str, Any] = {}
        if self.is_postgres and url.get_driver_name() in ("psycopg2", "psycopg"):
            connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, "options": _pg_options(timeout_s, read_only)}
        if self.is_mysql:
            connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        if self.is_mysql:
            sa.event.listen(engine, "connect", lambda conn, _: _mysql_session(conn, timeout_s, read_only))
        return engine

    def libpq_uri(self, timeout_s: int, read_only: bool = True) -> str:
        """ADBC wants a plain libpq URI: no +driver suffix; a UTC session with timeouts, read-only
        unless a bulk write (the predictions table) asks otherwise."""
        parsed = self._url.set(drivername="postgresql")
        query = {**parsed.query, "connect_timeout": str(CONNECT_TIMEOUT_S)}
        query["options"] = " ".join(filter(None, [query.get("options"), _pg_options(timeout_s, read_only)]))
        # libpq decodes %20, not the '+' SQLAlchemy writes for a space.
        base = parsed.set(query={}).render_as_string(hide_password=False)
        return f"{base}?{urlencode(query, quote_via=quote)}"

    @contextmanager
    def adbc(self, timeout_s: int, read_only: bool = True) -> Iterator[Any]:
        """An ADBC connection to PostgreSQL for one call (Arrow in bulk, COPY for streamed reads)."""
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(self.libpq_uri(timeout_s, read_only)) as connection:
            yield connection

    def has_table(self, name: str) -> bool:
        """Whether `table` or `schema.table` exists (an error reaching the database raises)."""
        schema, _, table = name.rpartition(".")
        with self.engine(read_only=True) as engine:
            return sa.inspect(engine).has_table(table, schema=schema or None)

    def column_types(self, name: str) -> dict[str, sa.types.TypeEngine]:
        """The columns of `table` or `schema.table` and their types, in order. DuckDB's from its
        information_schema: SQLAlchemy 2.0.45+ reflects columns through `pg_collation`, which
        DuckDB lacks (Mause/duckdb_engine#1379)."""
        schema, _, table = name.rpartition(".")
        with self.engine(read_only=True) as engine:
            if not self.is_duckdb:
                return {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table, schema=schema or None)}
            sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t"
            sql += " AND table_schema = :s" if schema else ""
            with engine.connect() as conn:
                rows = conn.execute(sa.text(sql + " ORDER BY ordinal_position"), {"t": table, "s": schema}).all()
        return {str(column): _duckdb_type(str(kind)) for column, kind in rows}

    def index_leading_with(self, name: str, column: str) -> str | None:
        """The name of an index of `table` or `schema.table` whose first column is `column`."""
        schema, _, table = name.rpartition(".")
        with self.engine(read_only=True) as engine:
            indexes = sa.inspect(engine).get_indexes(table, schema=schema or None)
        return next((i["name"] for i in indexes if (i.get("column_names") or [None])[0] == column), None)

    def create_rights(self) -> tuple[str, str, bool]:
        """PostgreSQL: the session's role, its default schema and whether it may create tables there."""
        query = "SELECT current_user, current_schema(), has_schema_privilege(current_schema(), 'CREATE')"
        with self.engine(read_only=True) as engine, engine.connect() as conn:
            user, schema, can_create = conn.execute(sa.text(query)).one()
        return str(user), str(schema), bool(can_create)

    def replace_rows(self, table: str, frame: pd.DataFrame, where: str, params: dict[str, Any]) -> None:
        """Delete the rows `where` selects and append the frame, in one transaction."""
        schema, _, name = table.rpartition(".")
        dated = [sa.bindparam(key, type_=sa.DateTime()) for key, value in params.items() if isinstance(value, datetime)]
        with self.engine() as engine, engine.begin() as conn:
            if sa.inspect(conn).has_table(name, schema=schema or None):
                delete = f"DELETE FROM {self.quote(table)} WHERE {where}"
                conn.execute(sa.text(delete).bindparams(*dated), params)
            method = None if self.is_postgres else "multi"
            frame.to_sql(
                name, conn, schema=schema or None, if_exists="append", index=False, method=method, chunksize=5000
            )
