"""`named_lock` on the real backends, each in a database made for the test and dropped after:
SQLite (a file lock beside the file), PostgreSQL (a session advisory lock) and MariaDB
(`GET_LOCK`). A holder is another process: while it holds, nobody else gets the lock and the
waiter's timeout names the lock and the holder; SIGKILLed, it leaves the lock free at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.retraining.locking import LockTimeout, lock_key, named_lock
from include.retraining.warehouse import Database
from tests.support import REPO, fresh_mysql_database, fresh_postgres_databases

pytestmark = pytest.mark.integration

NAME = "promotion/churn"
# Holds the lock named argv[2] in the database at argv[1], says so, and waits for its stdin to close.
_HOLDER = """
import sys
from include.retraining.warehouse import Database
from include.retraining.locking import named_lock
with named_lock(Database(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
print("released", flush=True)
"""


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database made for the test (password and all, for the holder process)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pipeline.db'}"
    elif request.param == "postgres":
        with fresh_postgres_databases("retraining_locks") as (made,):
            yield made
    else:
        with fresh_mysql_database("retraining_locks") as made:
            yield made


def _holder(url: str, name: str = NAME) -> subprocess.Popen:
    """Another process holding the lock; returns once it says it holds it."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    line = child.stdout.readline().strip()
    assert line == "held", f"the holder never got the lock (exit {child.poll()})"
    return child


def test_another_process_holding_the_lock_keeps_everyone_out_and_the_timeout_names_it(url: str) -> None:
    db, child = Database(url), _holder(url)
    try:
        with pytest.raises(LockTimeout) as refused, named_lock(db, NAME, timeout=0.5):
            pass
        with named_lock(db, "promotion/fraud", timeout=5):
            other_name_free = True
    finally:
        child.stdin.close()
        released = child.stdout.readline().strip()
        child.wait(timeout=30)

    message = str(refused.value)
    assert f"lock {NAME!r}" in message and db.display in message and "retry the task" in message
    if db.is_postgres:
        assert "pg_terminate_backend(" in message and f":{child.pid} {NAME}" in message, "the holder is named"
    if db.is_mysql:
        assert "KILL " in message, "the holder's connection is named"
    assert other_name_free and released == "released"
    with named_lock(db, NAME, timeout=5):
        pass  # let go by the holder: free again


def test_a_holder_killed_with_sigkill_leaves_the_lock_to_the_next(url: str) -> None:
    db, child = Database(url), _holder(url)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    # The bound only keeps a broken lock from hanging the suite: a dead holder frees it at once.
    with named_lock(db, NAME, timeout=30):
        got_it = True

    assert got_it and child.returncode == -signal.SIGKILL


def test_a_waiter_enters_only_after_the_holder_left(url: str) -> None:
    db, order = Database(url), []
    inside, let_go = threading.Event(), threading.Event()

    def first() -> None:
        with named_lock(db, NAME, timeout=30):
            order.append("first in")
            inside.set()
            let_go.wait(timeout=60)
            order.append("first out")

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(timeout=60), "the first never got the lock"
    # Held by a thread of this very process, on its own connection: still refused.
    with pytest.raises(LockTimeout), named_lock(db, NAME, timeout=0.2):
        pass
    waiter = threading.Thread(target=_second, args=(db, order))
    waiter.start()
    let_go.set()
    holder.join(timeout=60)
    waiter.join(timeout=60)

    assert order == ["first in", "first out", "second in"], order


def _second(db: Database, order: list[str]) -> None:
    with named_lock(db, NAME, timeout=30):
        order.append("second in")


def test_a_postgres_transaction_lock_on_the_key_excludes_the_named_lock(tmp_path: Path) -> None:
    """The predictions write holds `pg_advisory_xact_lock(lock_key(name))` for its transaction."""
    import sqlalchemy as sa

    with fresh_postgres_databases("retraining_locks") as (url,):
        db = Database(url)
        with named_lock(db, "predictions/churn_predictions/churn"), db.engine() as engine, engine.begin() as conn:
            taken = conn.execute(
                sa.text("SELECT pg_try_advisory_xact_lock(:key)"),
                {"key": lock_key("predictions/churn_predictions/churn")},
            ).scalar()

    assert taken is False
