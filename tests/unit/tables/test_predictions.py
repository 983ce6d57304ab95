"""The predictions table on the embedded SQLite warehouse: an interval is replaced whole, in one
transaction (PostgreSQL's ADBC path: tests/integration/test_score_dag.py). Read back with plain SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from include.retraining.common import Window
from include.retraining.score.scoring import Stamp, prediction_rows
from include.retraining.tables import PREDICTION_COLUMNS, replace_interval
from include.retraining.warehouse import Database

pytestmark = pytest.mark.unit

DAY1 = Window(datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC))
DAY2 = Window(DAY1.end, datetime(2026, 3, 3, 4, tzinfo=UTC))
TABLE = "churn_predictions"


def _rows(window: Window, n: int, version: str = "1", alias: str = "champion") -> pd.DataFrame:
    source = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "snapshot_at": pd.Timestamp(window.start).tz_localize(None)
            + pd.to_timedelta(np.arange(1, n + 1), unit="min"),
        }
    )
    stamp = Stamp("churn", version, alias, window, datetime(2026, 3, 3, 5, tzinfo=UTC), "run-1")
    return prediction_rows(source, np.linspace(0, 1, n), "customer_id", "snapshot_at", stamp)


def _read(db: Database, where: str = "1 = 1", **params: object) -> pd.DataFrame:
    """The model's rows, with plain SQL; datetime parameters bound as the table stores them."""
    sql = f"SELECT * FROM {TABLE} WHERE model = 'churn' AND {where} ORDER BY interval_end, alias, id"
    statement = sa.text(sql).bindparams(*(sa.bindparam(name, type_=sa.DateTime()) for name in params))
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(statement, conn, params=params)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'warehouse.db'}")


def test_a_rerun_replaces_its_interval_and_leaves_the_others(db: Database) -> None:
    replace_interval(db, TABLE, _rows(DAY1, 5), "churn", DAY1)
    replace_interval(db, TABLE, _rows(DAY2, 3), "churn", DAY2)

    written = replace_interval(db, TABLE, _rows(DAY1, 4, version="2"), "churn", DAY1)

    rows = _read(db)
    assert written == 4 and list(rows.columns) == list(PREDICTION_COLUMNS)
    assert rows.groupby("interval_end")["model_version"].agg(lambda v: sorted(set(v))).tolist() == [["2"], ["1"]]
    assert len(rows) == 7 and not rows.duplicated(["alias", "id", "interval_end"]).any()
    day2 = _read(db, "interval_end = :end", end=DAY2.end.replace(tzinfo=None))
    assert len(day2) == 3


def test_a_failed_write_leaves_the_interval_as_it_was(db: Database) -> None:
    replace_interval(db, TABLE, _rows(DAY1, 5), "churn", DAY1)
    broken = _rows(DAY1, 6)
    broken.loc[5, "model_version"] = None  # NOT NULL: the insert fails after the delete ran

    with pytest.raises(Exception, match="(?i)not null"):
        replace_interval(db, TABLE, broken, "churn", DAY1)

    rows = _read(db)
    assert len(rows) == 5 and set(rows["run_id"]) == {"run-1"}


def test_a_frame_off_the_contract_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="differ from the contract.*extra"):
        replace_interval(db, TABLE, _rows(DAY1, 2).assign(extra=1), "churn", DAY1)
    assert not db.has_table(TABLE)


def test_an_empty_interval_still_creates_the_table_with_the_contract_columns(db: Database) -> None:
    assert replace_interval(db, TABLE, _rows(DAY1, 0), "churn", DAY1) == 0

    rows = _read(db)
    assert list(rows.columns) == list(PREDICTION_COLUMNS) and rows.empty
