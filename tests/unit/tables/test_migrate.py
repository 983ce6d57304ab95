"""The pipeline tables' migrations on SQLite: a new database made at the latest revision exactly as
the tables are defined, and a database written by the last release before migrations (a fixture
made by its own code, tests/data/pipeline_db) upgraded in place without losing a row.
PostgreSQL: tests/integration/test_migrate_postgres.py."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from include.retraining.tables import (
    history,
    monitoring_table,
    outcomes_table,
    read_monitoring,
    replace_monitoring_row,
    schema_head,
    schema_revision,
    upgrade_schema,
)
from include.retraining.tables import migrate as migrate_module
from include.retraining.tables.alert_outbox import _TABLE as alert_outbox_table
from include.retraining.tables.promotions import _table as promotions_table
from include.retraining.warehouse import Database
from tests.support import REPO

pytestmark = pytest.mark.unit

FIXTURE = REPO / "tests" / "data" / "pipeline_db" / "pipeline-3315f52.db"


def _defined() -> sa.MetaData:
    """The tables as the code writes them: what every revision together must produce."""
    metadata = sa.MetaData()
    for table in (monitoring_table(), promotions_table("model_promotions"), outcomes_table(), alert_outbox_table):
        table.to_metadata(metadata)
    return metadata


def _differences(db: Database) -> list:
    with db.engine() as engine, engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        found = compare_metadata(context, _defined())
    # The version table is Alembic's own; every other difference is a revision missing.
    return [d for d in found if not (d[0] == "remove_table" and d[1].name == "retraining_alembic_version")]


@pytest.fixture
def fresh(tmp_path: Path) -> Database:
    migrate_module._current.clear()
    return Database(f"sqlite:///{tmp_path / 'pipeline.db'}")


@pytest.fixture
def old(tmp_path: Path) -> Database:
    migrate_module._current.clear()
    shutil.copy(FIXTURE, tmp_path / "old.db")
    return Database(f"sqlite:///{tmp_path / 'old.db'}")


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _tables(path)}


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def test_a_new_database_is_made_at_the_latest_revision_as_the_tables_are_defined(fresh: Database) -> None:
    assert schema_revision(fresh) is None

    upgrade_schema(fresh)

    assert schema_revision(fresh) == schema_head() == "0004"
    assert _differences(fresh) == []


def test_the_last_release_s_database_upgrades_in_place_without_losing_a_row(old: Database, tmp_path: Path) -> None:
    before = _counts(tmp_path / "old.db")
    monitoring_before = read_monitoring(old, "churn")
    assert schema_revision(old) is None and before == {
        "churn_predictions": 5,
        "model_monitoring": 3,
        "model_promotions": 3,
    }

    upgrade_schema(old)

    assert _counts(tmp_path / "old.db") == {
        **before,
        "alert_outbox": 0,
        "promotion_outcomes": 0,
        "retraining_alembic_version": 1,
    }
    assert schema_revision(old) == schema_head()
    after = read_monitoring(old, "churn")
    # The PSI pandas had typed as text (its first row had none) is a number again, every value kept.
    assert after["prediction_psi"].dtype == "float64"
    assert after["prediction_psi"].tolist()[1:] == [0.02, 0.02] and pd.isna(after["prediction_psi"].iloc[0])
    same = [c for c in monitoring_before.columns if c != "prediction_psi"]
    pd.testing.assert_frame_equal(after[same], monitoring_before[same])
    assert [(r.action.value, r.to_version) for r in history(old, "churn")] == [
        ("rollback", "1"),
        ("promote", "2"),
        ("promote", "1"),
    ]
    # Every defined column and index is there; types and nullability stay as the old release made
    # them (FLOAT for double, nullable keys), which the code reads alike.
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in _differences(old)}
    assert kinds <= {"modify_type", "modify_nullable", "remove_table", "remove_index"}, kinds
    with sqlite3.connect(tmp_path / "old.db") as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ix_model_monitoring_model_window_end" in indexes


def test_an_upgraded_database_takes_the_next_monitoring_row(old: Database) -> None:
    row = read_monitoring(old, "churn").iloc[-1].to_dict()
    row |= {"window_end": pd.Timestamp("2026-03-23 03:00"), "window_start": pd.Timestamp("2026-03-16 03:00")}

    replace_monitoring_row(old, row)

    assert len(read_monitoring(old, "churn")) == 4 and schema_revision(old) == schema_head()


def test_a_column_no_revision_made_is_refused_before_anything_is_written(fresh: Database) -> None:
    row = {"model": "churn", "window_start": pd.Timestamp("2026-03-01"), "window_end": pd.Timestamp("2026-03-08")}

    with pytest.raises(ValueError, match=r"no column\(s\) \['estimated_metric'\]: add them in a migration"):
        replace_monitoring_row(fresh, {**row, "decision": "none", "reasons": "", "estimated_metric": 0.8})

    assert schema_revision(fresh) is None


def test_processes_upgrading_at_once_leave_one_schema(tmp_path: Path) -> None:
    """Four workers starting their first task of a new release together: one upgrades, the
    others wait on the lock and find nothing to do."""
    shutil.copy(FIXTURE, tmp_path / "old.db")
    db, errors = Database(f"sqlite:///{tmp_path / 'old.db'}"), []

    def first_task() -> None:
        try:
            migrate_module._current.discard(db.display)  # each thread stands for a process of its own
            upgrade_schema(db)
        except Exception as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    workers = [threading.Thread(target=first_task) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == [] and schema_revision(db) == schema_head()
    assert _counts(tmp_path / "old.db")["model_monitoring"] == 3


def test_a_pipeline_database_that_refuses_the_upgrade_is_named_with_the_fix(tmp_path: Path) -> None:
    """Nobody may write there: the task stops before any step, saying where and what to do."""
    from include.retraining.warehouse import WarehouseError
    from tests.support_faults import read_only_tree

    migrate_module._current.clear()
    shutil.copy(FIXTURE, (tmp_path / "locked").mkdir() or tmp_path / "locked" / "old.db")
    db = Database(f"sqlite:///{tmp_path / 'locked' / 'old.db'}")

    with (
        read_only_tree(tmp_path / "locked"),
        pytest.raises(WarehouseError, match=r"refused the upgrade .*retraining_db"),
    ):
        upgrade_schema(db)

    assert schema_revision(db) is None and _counts(tmp_path / "locked" / "old.db")["model_monitoring"] == 3
