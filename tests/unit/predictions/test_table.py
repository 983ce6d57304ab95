"""The predictions table on the embedded SQLite warehouse: an interval is replaced whole, in one
transaction, and what it replaced is kept, marked `superseded_at` (PostgreSQL's ADBC path:
tests/integration/test_score_dag.py). Read back with plain SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from include.retraining.common import Window
from include.retraining.inference import PredictionAppender
from include.retraining.predictions import (
    PREDICTED_CLASS,
    PREDICTION_COLUMNS,
    PROBABILITIES,
    probabilities_frame,
    replace_interval,
)
from include.retraining.predictions.table import prune_before
from include.retraining.score.scoring import Stamp, prediction_rows
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


def _read(db: Database, where: str = "superseded_at IS NULL", **params: object) -> pd.DataFrame:
    """The model's live rows (the contract's columns), with plain SQL; datetime parameters bound
    as the table stores them."""
    sql = f"SELECT {', '.join(PREDICTION_COLUMNS)} FROM {TABLE} WHERE model = 'churn' AND {where}"
    sql += " ORDER BY interval_end, alias, id"
    statement = sa.text(sql).bindparams(*(sa.bindparam(name, type_=sa.DateTime()) for name in params))
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(statement, conn, params=params)


def test_a_rerun_replaces_its_interval_and_leaves_the_others(db: Database) -> None:
    replace_interval(db, TABLE, _rows(DAY1, 5), "churn", DAY1)
    replace_interval(db, TABLE, _rows(DAY2, 3), "churn", DAY2)

    written = replace_interval(db, TABLE, _rows(DAY1, 4, version="2"), "churn", DAY1)

    rows = _read(db)
    assert written == 4 and list(rows.columns) == list(PREDICTION_COLUMNS)
    assert rows.groupby("interval_end")["model_version"].agg(lambda v: sorted(set(v))).tolist() == [["2"], ["1"]]
    assert len(rows) == 7 and not rows.duplicated(["alias", "id", "interval_end"]).any()
    day2 = _read(db, "superseded_at IS NULL AND interval_end = :end", end=DAY2.end.replace(tzinfo=None))
    assert len(day2) == 3


def test_a_failed_write_leaves_the_interval_as_it_was(db: Database) -> None:
    replace_interval(db, TABLE, _rows(DAY1, 5), "churn", DAY1)
    broken = _rows(DAY1, 6)
    broken.loc[5, "model_version"] = None  # NOT NULL: the insert fails after the delete ran

    with pytest.raises(Exception, match="(?i)not null|cannot be null"):
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


def _superseded(db: Database) -> pd.DataFrame:
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {TABLE} WHERE superseded_at IS NOT NULL ORDER BY id"), conn)


def test_a_rescore_keeps_what_was_delivered_marked_superseded(db: Database) -> None:
    replace_interval(db, TABLE, _rows(DAY1, 5), "churn", DAY1)

    replace_interval(db, TABLE, _rows(DAY1, 5, version="2"), "churn", DAY1)  # after a champion move

    live, replaced = _read(db), _superseded(db)
    assert set(live["model_version"]) == {"2"} and len(live) == 5
    assert set(replaced["model_version"]) == {"1"} and len(replaced) == 5
    assert replaced["superseded_at"].notna().all()
    replace_interval(db, TABLE, _rows(DAY1, 5, version="3"), "churn", DAY1)
    assert len(_superseded(db)) == 10 and set(_read(db)["model_version"]) == {"3"}  # superseded once, kept


def test_a_changed_schedule_leaves_one_live_row_per_source_row(db: Database) -> None:
    # Daily intervals, then the schedule becomes twice a day, shifted: the new interval straddles
    # the end of DAY1 and the start of DAY2.
    replace_interval(db, TABLE, _rows(DAY1, 1440), "churn", DAY1)  # one row a minute
    replace_interval(db, TABLE, _rows(DAY2, 1440), "churn", DAY2)
    straddle = Window(DAY1.start + pd.Timedelta(hours=12), DAY1.end + pd.Timedelta(hours=12))
    source = pd.concat([_rows(DAY1, 1440), _rows(DAY2, 1440)])
    inside = (source["event_time"] > straddle.start.replace(tzinfo=None)) & (
        source["event_time"] <= straddle.end.replace(tzinfo=None)
    )
    rescored = source.loc[inside].assign(
        model_version="2",
        interval_start=straddle.start.replace(tzinfo=None),
        interval_end=straddle.end.replace(tzinfo=None),
    )

    replace_interval(db, TABLE, rescored.reset_index(drop=True), "churn", straddle)

    live = _read(db)
    assert len(live) == 2880 and not live.duplicated(["alias", "id", "event_time"]).any()
    assert (live["model_version"] == "2").sum() == 1440 and len(_superseded(db)) == 1440


def test_a_table_from_before_superseded_at_is_upgraded_keeping_every_row_live(db: Database) -> None:
    columns = ", ".join(f"{c} {'FLOAT' if c == 'score' else 'TEXT'}" for c in PREDICTION_COLUMNS)
    with db.engine() as engine, engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {TABLE} ({columns})"))
    old = _rows(DAY1, 5)
    with db.engine() as engine, engine.begin() as conn:
        old.astype({c: str for c in ("event_time", "interval_start", "interval_end", "scored_at")}).to_sql(
            TABLE, conn, if_exists="append", index=False
        )

    replace_interval(db, TABLE, _rows(DAY2, 3), "churn", DAY2)

    assert "superseded_at" in db.column_types(TABLE)
    assert len(_read(db)) == 8 and _superseded(db).empty
    assert set(_read(db, "superseded_at IS NULL AND source = 'batch'")["id"]) == set(_read(db)["id"])


def _rest_rows(window: Window, ids: list[str], version: str = "1") -> dict[str, list]:
    """REST answers of the ids at the window's first minutes, as the inference log writes them."""
    at = [window.start.replace(tzinfo=None) + timedelta(minutes=i + 1) for i in range(len(ids))]
    n = len(ids)
    return {
        "model": ["churn"] * n,
        "model_version": [version] * n,
        "alias": ["champion"] * n,
        "id": ids,
        "event_time": at,
        "score": [0.5] * n,
        "interval_start": [t - timedelta(seconds=1) for t in at],
        "interval_end": at,
        "scored_at": at,
        "run_id": ["request-1"] * n,
        "source": ["rest"] * n,
        "features": ['{"tenure_months": 3}'] * n,
    }


def test_a_rescore_supersedes_batch_rows_only_never_a_rest_answer(db: Database) -> None:
    appender = PredictionAppender(db, TABLE)
    appender.append(_rest_rows(DAY1, ["c0", "c1"]))  # the same ids and times as the batch rows below
    replace_interval(db, TABLE, _rows(DAY1, 5), "churn", DAY1)

    replace_interval(db, TABLE, _rows(DAY1, 5, version="2"), "churn", DAY1)
    appender.close()

    live = _read(db, "superseded_at IS NULL AND source = 'rest'")
    assert sorted(live["id"]) == ["c0", "c1"] and set(live["model_version"]) == {"1"}
    assert len(_read(db, "superseded_at IS NULL AND source = 'batch'")) == 5
    assert set(_superseded(db)["source"]) == {"batch"}


def test_pruning_deletes_the_model_s_rows_of_intervals_that_ended_before_the_cutoff(db: Database) -> None:
    replace_interval(db, TABLE, _rows(DAY1, 3), "churn", DAY1)
    replace_interval(db, TABLE, _rows(DAY1, 2), "churn", DAY1)  # replaces day 1's rows: kept, superseded
    replace_interval(db, TABLE, _rows(DAY2, 4), "churn", DAY2)
    replace_interval(db, TABLE, _rows(DAY1, 2).assign(model="other"), "other", DAY1)

    deleted = prune_before(db, TABLE, "churn", DAY2.start)

    assert deleted == 3 + 2  # day 1's superseded and live rows
    assert set(pd.to_datetime(_read(db, "1 = 1")["interval_end"])) == {pd.Timestamp(DAY2.end.replace(tzinfo=None))}
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {TABLE} WHERE model = 'other'")).scalar() == 2
    assert prune_before(db, TABLE, "churn", DAY2.start) == 0  # a rerun deletes nothing more


def test_a_multiclass_models_rows_carry_the_predicted_class_and_every_class_probability(db: Database) -> None:
    binary = _rows(DAY1, 3)
    source = pd.DataFrame({"customer_id": ["m0", "m1"], "snapshot_at": binary["event_time"].iloc[:2].to_numpy()})
    probabilities = pd.DataFrame({"leave": [0.7, 0.1], "stay": [0.2, 0.3], "downgrade": [0.1, 0.6]})
    stamp = Stamp("churn", "1", "challenger", DAY1, datetime(2026, 3, 3, 5, tzinfo=UTC), "run-1")
    multiclass = prediction_rows(source, probabilities, "customer_id", "snapshot_at", stamp)

    replace_interval(db, TABLE, pd.concat([binary, multiclass], ignore_index=True), "churn", DAY1)

    rows = _read_all(db).set_index("id")
    assert rows.loc["m0", PREDICTED_CLASS] == "leave" and rows.loc["m1", PREDICTED_CLASS] == "downgrade"
    assert rows.loc[["m0", "m1"], "score"].tolist() == [0.7, 0.6]  # the predicted class's probability
    read_back = probabilities_frame(rows.loc[["m0", "m1"], PROBABILITIES])
    assert np.allclose(read_back[probabilities.columns].to_numpy(), probabilities.to_numpy())
    assert rows.loc[["c0", "c1", "c2"], [PREDICTED_CLASS, PROBABILITIES]].isna().all().all()  # binary: unchanged


def _read_all(db: Database) -> pd.DataFrame:
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {TABLE} WHERE superseded_at IS NULL"), conn)
