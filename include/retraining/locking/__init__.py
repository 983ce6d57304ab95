"""Named locks in a database, the pipeline's one mutual exclusion (a model's promotions, the
schema's upgrade, a predictions interval's write), held where every worker of every host meets:
PostgreSQL advisory locks, MySQL/MariaDB `GET_LOCK`, a file lock beside a SQLite or DuckDB file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.locking.locks import DEFAULT_TIMEOUT_S as LOCK_TIMEOUT_S
    from include.retraining.locking.locks import LockTimeout, lock_file, lock_key, mysql_lock_name, named_lock

__all__, __getattr__, __dir__ = face(__name__)
