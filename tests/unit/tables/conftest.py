"""The pipeline's tables on the embedded default (SQLite) and on MariaDB, a database a team may
point the connection `retraining_db` at (MySQL's key-length limit, its own upsert and lock
statements). PostgreSQL's own: tests/integration/test_*_postgres.py and tests/unit/alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from include.retraining.tables import migrate as migrate_module
from include.retraining.warehouse import Database
from tests.support import fresh_mysql_database


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    migrate_module._current.clear()
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'pipeline.db'}")
        return
    with fresh_mysql_database("tables") as url:
        yield Database(url)
