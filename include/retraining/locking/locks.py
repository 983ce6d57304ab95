"""Named locks in a database: the one mutual exclusion of the pipeline (a model's promotions, the
schema's upgrade, a predictions interval's write), held where every worker of every host meets,
so no lock depends on a shared folder.

- PostgreSQL: `pg_advisory_lock` on a 64-bit key hashed from the name (`lock_key`), held by a
  session of its own (autocommit), released on exit, and by the server when the holder's
  connection ends: a process that dies (SIGKILL, OOM) releases it at once; a host that vanishes
  without closing its connection, once TCP keepalive gives up on it (about two minutes, set per
  session). Advisory locks are per database. Through a pooler in transaction mode (PgBouncer) a
  session lock is not held: connect the pipeline database directly or in session mode.
  A write that needs its lock for one transaction only takes `pg_advisory_xact_lock(lock_key(name))`
  in it (released at commit or rollback); it and `named_lock(db, name)` exclude each other.
- MySQL/MariaDB: `GET_LOCK` / `RELEASE_LOCK`, held by a connection of its own and released when it
  ends. Their names are server-wide and at most 64 characters: the database's name is put in
  front, and a longer name is shortened with its hash.
- SQLite and DuckDB (the embedded default): `fcntl.flock` on a file beside the database file,
  `<file>.locks/<name>.lock`. A file database lives on one host, so its lock does too; it is not
  a lock between hosts, and needs no more.

Waiting longer than `timeout` raises `LockTimeout`, naming the lock, the database, the holder
where the server tells it, and what to do.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from include.retraining.warehouse import Database, WarehouseError

# Long enough for any promotion or write the pipeline makes under a lock; a holder that takes
# longer is stuck, and the waiter's task fails with the holder named instead of hanging.
DEFAULT_TIMEOUT_S = 600.0
_MYSQL_NAME_MAX = 64
# The file lock's wait is polled: flock has no timeout of its own.
_POLL_S = 0.05
# A vanished host's session (no FIN ever arrives) is dropped after 60 + 6 x 10 s.
_PG_KEEPALIVE = ("SET tcp_keepalives_idle = 60", "SET tcp_keepalives_interval = 10", "SET tcp_keepalives_count = 6")


class LockTimeout(WarehouseError):
    """A named lock was not granted within its timeout; the message names the lock and the holder."""


def lock_key(name: str) -> int:
    """The name's stable signed 64-bit key (PostgreSQL's advisory lock space), the same in every
    process and release (not Python's salted `hash`)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def mysql_lock_name(database: str | None, name: str) -> str:
    """The server-wide `GET_LOCK` name of `name` in `database`, at most 64 characters."""
    full = f"{database or ''}/{name}"
    if len(full) <= _MYSQL_NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{full[: _MYSQL_NAME_MAX - len(digest) - 1]}~{digest}"


def lock_file(database_file: str | Path, name: str) -> Path:
    """The file whose flock is `name` beside a SQLite or DuckDB file."""
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if slug != name or len(slug) > 100:  # keep distinct names distinct
        slug = f"{slug[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return Path(f"{database_file}.locks") / f"{slug}.lock"


@contextmanager
def named_lock(db: Database, name: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock `name` in `db` while the block runs; wait at most `timeout` seconds for it
    (LockTimeout). One holder at a time across processes and hosts that use this database."""
    if db.is_postgres:
        with _postgres_lock(db, name, timeout):
            yield
    elif db.is_mysql:
        with _mysql_lock(db, name, timeout):
            yield
    elif db.backend == "sqlite" or db.is_duckdb:
        with _file_lock(db, name, timeout):
            yield
    else:
        raise WarehouseError(
            f"the database {db.display} ({db.backend}) offers no named lock the pipeline knows; hold the "
            "pipeline's tables in PostgreSQL, MySQL/MariaDB or SQLite (the Airflow connection retraining_db)"
        )


def _timed_out(db: Database, name: str, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"the lock {name!r} in the pipeline database {db.display} was not granted within {timeout:g} s: "
        f"{holder}. A holder that died releases it by itself; a stuck one must be stopped (end its task, or "
        "its database session). Then retry the task"
    )


def _lock_engine(db: Database, timeout: float):
    # The session's statement timeout must not end the wait before the lock's own timeout does.
    return db.engine(timeout_s=int(timeout) + 60)


@contextmanager
def _postgres_lock(db: Database, name: str, timeout: float) -> Iterator[None]:
    key = lock_key(name)
    with _lock_engine(db, timeout) as engine, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for setting in _PG_KEEPALIVE:
            conn.execute(sa.text(setting))
        # Names the holder in pg_stat_activity, and so in a waiter's timeout message.
        holder = f"retraining {socket.gethostname()}:{os.getpid()} {name}"[:63]
        conn.execute(sa.text("SELECT set_config('application_name', :holder, false)"), {"holder": holder})
        conn.execute(sa.text(f"SET lock_timeout = {max(1, int(timeout * 1000))}"))
        try:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) != "55P03":  # lock_not_available: the timeout
                raise
            raise _timed_out(db, name, timeout, _postgres_holder(conn, key)) from None
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def _postgres_holder(conn: sa.Connection, key: int) -> str:
    """Who holds the advisory lock `key`: pg_locks splits the key in two 32-bit halves."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    query = sa.text(
        "SELECT a.pid, a.client_addr, a.application_name, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = :high AND l.objid = :low AND l.objsubid = 1 AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    row = conn.execute(query, {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}).first()
    if row is None:
        return "its holder let go just now"
    return (
        f"it is held by PostgreSQL session pid {row.pid} (client {row.client_addr or 'local'}, application "
        f"{row.application_name or 'unnamed'}, connected {row.backend_start:%Y-%m-%d %H:%M:%S %Z}); "
        f"`SELECT pg_terminate_backend({row.pid})` releases it"
    )


@contextmanager
def _mysql_lock(db: Database, name: str, timeout: float) -> Iterator[None]:
    with _lock_engine(db, timeout) as engine, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        lock = mysql_lock_name(engine.url.database, name)
        granted = conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": lock, "timeout": timeout}).scalar()
        if granted != 1:
            holder = conn.execute(sa.text("SELECT IS_USED_LOCK(:name)"), {"name": lock}).scalar()
            who = f"it is held by connection {holder} (`KILL {holder}` releases it)" if holder else "no holder now"
            raise _timed_out(db, name, timeout, who)
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": lock})


@contextmanager
def _file_lock(db: Database, name: str, timeout: float) -> Iterator[None]:
    database = db.database_file
    if database is None:
        yield  # a database in memory is one process's own: nobody else can reach it
        return
    path = lock_file(Path(database).resolve(), name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
    except OSError:
        handle = None
    if handle is None:
        # A folder nobody may write: no writer can change the database in it either (SQLite writes
        # its journal beside the file), and the database's own refusal names the problem next.
        yield
        return
    with handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "an unknown process"
                    raise _timed_out(db, name, timeout, f"it is held by {holder} (file {path})") from None
                time.sleep(_POLL_S)
        try:
            handle.truncate(0)
            handle.write(f"process {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
