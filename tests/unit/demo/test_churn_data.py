"""The demo's churn generator and its loader: the same seed and period give the same rows, a
scripted World breaks the load as described, and a reloaded window replaces its rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from demo.churn_data import TABLE, World, generate_snapshots, load_window
from include.retraining.artifacts import content_hash
from include.retraining.warehouse import Database

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


def _table(url: str) -> pd.DataFrame:
    with Database(url).engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {TABLE} ORDER BY snapshot_at, customer_id"), conn)


def test_generator_is_deterministic_per_seed_and_period() -> None:
    a = generate_snapshots(500, START, START + WEEK, seed=1)
    assert content_hash(a) == content_hash(generate_snapshots(500, START, START + WEEK, seed=1))
    assert content_hash(a) != content_hash(generate_snapshots(500, START, START + WEEK, seed=2))
    assert content_hash(a) != content_hash(generate_snapshots(500, START + WEEK, START + 2 * WEEK, seed=1))


def test_rows_fall_in_the_half_open_period_as_naive_utc() -> None:
    frame = generate_snapshots(500, START, START + WEEK, seed=1)
    start, end = pd.Timestamp(START).tz_localize(None), pd.Timestamp(START + WEEK).tz_localize(None)
    assert frame["snapshot_at"].dt.tz is None
    assert (frame["snapshot_at"] > start).all() and (frame["snapshot_at"] <= end).all()


def test_broken_load_world_nulls_and_renames() -> None:
    frame = generate_snapshots(
        200,
        START,
        START + WEEK,
        world=World(null_columns=("monthly_charges",), renamed_categories={"contract": {"one_year": "1yr"}}),
    )
    assert frame["monthly_charges"].isna().all() and "1yr" in set(frame["contract"])
    assert "one_year" not in set(frame["contract"])


def test_a_rerun_of_the_same_window_never_duplicates_and_leaves_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    first = generate_snapshots(300, START, START + WEEK, seed=1)
    second = generate_snapshots(200, START + WEEK, START + 2 * WEEK, seed=1)
    load_window(url, TABLE, first, START, START + WEEK)
    load_window(url, TABLE, second, START + WEEK, START + 2 * WEEK)

    written = load_window(url, TABLE, first.head(250), START, START + WEEK)
    load_window(url, TABLE, first.head(250), START, START + WEEK)

    rows = _table(url)
    assert written == 250 and len(rows) == 450 and not rows.duplicated(["customer_id", "snapshot_at"]).any()
    assert set(rows["customer_id"]) == set(first["customer_id"].head(250)) | set(second["customer_id"])
