from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from sqlalchemy.dialects import postgresql, sqlite

from include.retraining.config import SourceConfig
from include.retraining.warehouse import WarehouseError, _quote, window_query
from include.retraining.windows import Window, as_utc, matured_window, recent_window, training_window

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 2, 3, tzinfo=UTC)


def test_training_window_excludes_immature_labels() -> None:
    window = training_window(END, window_days=56, label_delay_days=14)
    assert window.start == END - timedelta(days=56)
    assert window.end == END - timedelta(days=14)
    assert window.label == "20260105T030000_20260216T030000"


def test_label_delay_longer_than_window_is_refused() -> None:
    with pytest.raises(ValueError, match="label_delay_days"):
        training_window(END, window_days=7, label_delay_days=7)


def test_pendulum_and_other_zones_become_plain_utc() -> None:
    moment = pendulum.datetime(2026, 3, 2, 4, tz="Europe/Paris")
    assert as_utc(moment) == datetime(2026, 3, 2, 3, tzinfo=UTC)
    assert type(as_utc(moment)) is datetime


def test_naive_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_matured_part_of_a_monitoring_window() -> None:
    window = recent_window(END, 28)
    assert matured_window(window, 14) == Window(END - timedelta(days=28), END - timedelta(days=14))
    assert matured_window(recent_window(END, 7), 14) is None


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()])
def test_window_query_quotes_identifiers_and_binds_values(dialect) -> None:
    source = SourceConfig(table="analytics.customer_snapshots", timestamp_column="snapshot_at", id_column="customer_id")
    query = window_query(source, ["customer_id", "select"], END - timedelta(days=1), END, dialect)
    assert '"select"' in query.sql  # a reserved word as a column name still works
    assert '"analytics"."customer_snapshots"' in query.sql
    assert ":window_start" in query.sql and END.isoformat() not in query.sql
    assert query.params["window_end"] == END.replace(tzinfo=None)


@pytest.mark.parametrize("name", ["a; drop table x", "a b", "1abc", 'a"b', "a.b.c.d"])
def test_unsafe_identifiers_are_refused(name: str) -> None:
    with pytest.raises(WarehouseError):
        _quote(postgresql.dialect(), name)


def test_query_source_is_wrapped_as_a_subquery() -> None:
    source = SourceConfig(query="select * from snapshots where region = 'north'", timestamp_column="ts")
    query = window_query(source, ["ts", "y"], END - timedelta(days=1), END, sqlite.dialect())
    assert query.sql.startswith(
        'SELECT "ts", "y" FROM (select * from snapshots where region = \'north\') AS source_rows WHERE'
    )
