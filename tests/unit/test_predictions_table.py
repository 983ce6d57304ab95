"""The predictions table on the embedded SQLite warehouse: an interval is replaced whole, in one
transaction (PostgreSQL's ADBC path: tests/integration/test_score_dag.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from include.retraining.common.windows import Window
from include.retraining.score.scoring import Stamp, prediction_rows
from include.retraining.tables.predictions import COLUMNS, read_predictions, replace_interval

pytestmark = pytest.mark.unit

DAY1 = Window(datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC))
DAY2 = Window(DAY1.end, datetime(2026, 3, 3, 4, tzinfo=UTC))


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


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def test_a_rerun_replaces_its_interval_and_leaves_the_others(url: str) -> None:
    replace_interval(url, "churn_predictions", _rows(DAY1, 5), "churn", DAY1)
    replace_interval(url, "churn_predictions", _rows(DAY2, 3), "churn", DAY2)

    replace_interval(url, "churn_predictions", _rows(DAY1, 4, version="2"), "churn", DAY1)

    rows = read_predictions(url, "churn_predictions", "churn")
    assert list(rows.columns) == list(COLUMNS)
    assert rows.groupby("interval_end")["model_version"].agg(lambda v: sorted(set(v))).tolist() == [["2"], ["1"]]
    assert len(rows) == 7 and not rows.duplicated(["alias", "id", "interval_end"]).any()
    assert len(read_predictions(url, "churn_predictions", "churn", start=DAY1.end, end=DAY2.end)) == 3


def test_a_failed_write_leaves_the_interval_as_it_was(url: str) -> None:
    replace_interval(url, "churn_predictions", _rows(DAY1, 5), "churn", DAY1)
    broken = _rows(DAY1, 6)
    broken.loc[5, "model_version"] = None  # NOT NULL: the insert fails after the delete ran

    with pytest.raises(Exception, match="(?i)not null"):
        replace_interval(url, "churn_predictions", broken, "churn", DAY1)

    rows = read_predictions(url, "churn_predictions", "churn")
    assert len(rows) == 5 and set(rows["run_id"]) == {"run-1"}


def test_a_frame_off_the_contract_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="differ from the contract.*extra"):
        replace_interval(url, "churn_predictions", _rows(DAY1, 2).assign(extra=1), "churn", DAY1)


def test_no_table_reads_as_no_rows_with_the_contract_columns(url: str) -> None:
    assert list(read_predictions(url, "churn_predictions", "churn").columns) == list(COLUMNS)
