"""`Database`: one SQL database behind a URL, its engines opened per call, its password kept out
of messages, its tables replaced in one transaction. On SQLite; PostgreSQL sessions, zones and
timeouts: tests/integration/test_warehouse_postgres.py."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import sqlalchemy as sa

from include.retraining.warehouse import Database, WarehouseError

pytestmark = pytest.mark.unit

PG_URL = "postgresql+psycopg2://user:s3cret@db:5432/warehouse"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'wh.db'}")


def _rows(db: Database, table: str = "t") -> pd.DataFrame:
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {table} ORDER BY day, n"), conn)


def test_the_password_connects_but_never_shows() -> None:
    db = Database(PG_URL)

    assert db.password == "s3cret" and Database("sqlite:///x.db").password is None
    assert "s3cret" not in db.display and "s3cret" not in repr(db)
    assert db.display == "postgresql+psycopg2://user:***@db:5432/warehouse"
    assert db.is_postgres and not Database("sqlite:///x.db").is_postgres


def test_adbc_sessions_are_read_only_utc_with_timeouts_and_keep_the_users_options() -> None:
    db = Database("postgresql+psycopg2://u:p@db:5432/w?options=-c%20search_path%3Dmart&sslmode=require")

    uri = db.libpq_uri(60)

    assert uri.startswith("postgresql://u:p@db:5432/w?") and "+" not in uri.split("?", 1)[1]  # libpq reads %20
    query = parse_qs(urlsplit(uri).query)
    assert query["sslmode"] == ["require"] and query["connect_timeout"] == ["15"]
    assert query["options"] == [
        "-c search_path=mart -c statement_timeout=60000 -c TimeZone=UTC -c default_transaction_read_only=on"
    ]


def test_a_bulk_write_session_is_not_read_only() -> None:
    query = parse_qs(urlsplit(Database(PG_URL).libpq_uri(300, read_only=False)).query)

    assert query["options"] == ["-c statement_timeout=300000 -c TimeZone=UTC"]


def test_sqlite_read_only_engines_cannot_write(db: Database) -> None:
    db.replace_rows("t", pd.DataFrame({"day": [1], "n": [1]}), "1 = 1", {})

    with (
        db.engine(read_only=True) as engine,
        engine.connect() as conn,
        pytest.raises(sa.exc.OperationalError, match="readonly|query_only"),
    ):
        conn.execute(sa.text("DELETE FROM t"))


def test_names_are_quoted_for_the_dialect_and_unsafe_ones_refused(db: Database) -> None:
    assert Database(PG_URL).quote("analytics.select") == '"analytics"."select"'
    assert db.quote("main.order") == '"main"."order"'
    with pytest.raises(WarehouseError, match="not a valid SQL identifier"):
        db.quote("t; drop table x")


def test_has_table_sees_a_table_once_written(db: Database) -> None:
    assert not db.has_table("t") and not db.has_table("main.t")

    db.replace_rows("t", pd.DataFrame({"day": [1], "n": [1]}), "1 = 1", {})

    assert db.has_table("t") and db.has_table("main.t") and not db.has_table("other")


def test_has_table_on_an_unreachable_database_raises_not_answers_no() -> None:
    unreachable = Database("postgresql+psycopg2://reader:pw@127.0.0.1:9/warehouse")  # nothing listens on port 9

    with pytest.raises(sa.exc.OperationalError):
        unreachable.has_table("t")


def test_replace_rows_replaces_what_the_condition_selects_and_keeps_the_rest(db: Database) -> None:
    db.replace_rows("t", pd.DataFrame({"day": [1, 1, 2], "n": [1, 2, 3]}), "day = :day", {"day": 1})

    db.replace_rows("t", pd.DataFrame({"day": [1], "n": [9]}), "day = :day", {"day": 1})
    db.replace_rows("t", pd.DataFrame({"day": [1], "n": [9]}), "day = :day", {"day": 1})

    assert _rows(db).to_dict("list") == {"day": [1, 2], "n": [9, 3]}


def test_a_failed_append_leaves_the_rows_as_they_were(db: Database) -> None:
    db.replace_rows("t", pd.DataFrame({"day": [1, 1], "n": [1, 2]}), "day = :day", {"day": 1})

    with pytest.raises(sa.exc.OperationalError, match="no column named extra"):
        db.replace_rows("t", pd.DataFrame({"day": [1], "n": [5], "extra": [0]}), "day = :day", {"day": 1})

    assert _rows(db).to_dict("list") == {"day": [1, 1], "n": [1, 2]}  # the delete was rolled back too
