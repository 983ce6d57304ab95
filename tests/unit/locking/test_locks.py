"""`named_lock`'s names: the PostgreSQL key is stable across processes, MySQL/MariaDB names fit
the server's 64 characters and stay distinct, a file lock's name stays a plain file name; and a
database with no lock the pipeline knows is refused by name. The locks themselves, held and
killed on SQLite, PostgreSQL and MariaDB: tests/integration/test_named_locks.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from include.retraining.locking import lock_file, lock_key, mysql_lock_name, named_lock
from include.retraining.warehouse import Database, WarehouseError
from tests.support import REPO

pytestmark = pytest.mark.unit


def test_the_postgres_key_is_the_same_in_another_process_and_fits_a_signed_bigint() -> None:
    # Python's str hash is salted per process: two workers would take two different locks.
    other = subprocess.run(
        [sys.executable, "-c", "from include.retraining.locking import lock_key; print(lock_key('promotion/churn'))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )

    assert int(other.stdout) == lock_key("promotion/churn")
    assert lock_key("promotion/churn") != lock_key("promotion/fraud")
    assert all(-(2**63) <= lock_key(name) < 2**63 for name in ("", "x" * 1000, "promotion/churn"))


def test_mysql_names_carry_the_database_and_long_ones_are_shortened_but_distinct() -> None:
    short = mysql_lock_name("pipeline", "promotion/churn")
    long_a = mysql_lock_name("pipeline", "predictions/" + "a" * 80 + "/churn")
    long_b = mysql_lock_name("pipeline", "predictions/" + "a" * 80 + "/fraud")

    assert short == "pipeline/promotion/churn"
    assert mysql_lock_name("other", "promotion/churn") != short, "lock names are server-wide: one per database"
    assert len(long_a) == len(long_b) == 64 and long_a != long_b


def test_a_file_locks_name_is_a_plain_file_name_beside_the_database(tmp_path: Path) -> None:
    plain = lock_file(tmp_path / "pipeline.db", "promotion/churn")
    odd = lock_file(tmp_path / "pipeline.db", "promotion/churn:../x")

    assert plain.parent == odd.parent == tmp_path / "pipeline.db.locks"
    assert "/" not in plain.name and odd.name != plain.name and odd.parent == plain.parent


def test_a_database_with_no_lock_the_pipeline_knows_is_refused_by_name() -> None:
    oracle = Database("oracle+oracledb://u:p@db/x")
    with pytest.raises(WarehouseError, match=r"offers no named lock .*retraining_db"), named_lock(oracle, "x"):
        pass
