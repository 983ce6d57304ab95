"""The monitor on a PostgreSQL window larger than its bounds: `current` reads the warehouse's hash
sample of ids (about `monitor.max_rows` of the current window, `monitor.max_matured_rows` of the
matured one), the same rows on a rerun, row counts exact from SQL; the served predictions it
reads are those of the same ids; drift and performance run on the sample."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.learning import fit
from include.retraining.monitor import Reference, current, data_drift, performance
from include.retraining.warehouse import HASH_SPACE, Warehouse, hash_below, sample_threshold
from tests.support import PG_ADMIN_URL, postgres_databases, service_unavailable
from tests.unit.monitor.fakes import CHURN, END, FakeTracker, context

pytestmark = pytest.mark.integration

ROWS = 30_000  # in each of the current and the matured window
MAX_ROWS, MAX_MATURED = 4_000, 10_000
CURRENT = (END - timedelta(days=7), END)
MATURED = (END - timedelta(days=14), END - timedelta(days=7))


def _served(frame: pd.DataFrame) -> pd.DataFrame:
    """What score_churn would have written for these rows: the champion's score of each."""
    return pd.DataFrame(
        {
            "model": "churn",
            "model_version": "1",
            "alias": "champion",
            "id": frame["customer_id"],
            "event_time": frame["snapshot_at"],
            "score": (frame["monthly_charges"] / 150).clip(0, 1).fillna(0.5),
            "interval_start": frame["snapshot_at"] - pd.Timedelta(hours=1),
            "interval_end": frame["snapshot_at"],
        }
    )


@pytest.fixture(scope="module")
def warehouse() -> Iterator[str]:
    """A scratch database: ROWS churn rows in each window, and the predictions served for all of them."""
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa

    from demo.churn_data import TABLE, generate_snapshots

    name = f"wh_monitor_sample_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means it is not there
        service_unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    frame = pd.concat([generate_snapshots(ROWS, *window, seed=5) for window in (MATURED, CURRENT)])
    with adbc.connect(url.replace("postgresql+psycopg2", "postgresql")) as conn, conn.cursor() as cursor:
        cursor.adbc_ingest(TABLE, pa.Table.from_pandas(frame, preserve_index=False), mode="create")
        cursor.adbc_ingest("churn_predictions", pa.Table.from_pandas(_served(frame), preserve_index=False))
        cursor.execute(f"CREATE INDEX ON {TABLE} (snapshot_at)")
        conn.commit()
    try:
        yield url
    finally:
        postgres_databases(name, drop=True)


@pytest.fixture(scope="module")
def config():
    base = load_model_config(CHURN)
    monitor = base.monitor.model_copy(update={"max_rows": MAX_ROWS, "max_matured_rows": MAX_MATURED})
    return base.model_copy(update={"monitor": monitor})


def _fetch(url: str, sql: str, params: dict | None = None) -> list[tuple]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params or {})]
    finally:
        engine.dispose()


def _hashed_ids(url: str, ids: pd.Series, threshold: int) -> set[str]:
    """The ids below threshold by the hash PostgreSQL reports for each (`hashtextextended` of the id
    as text, signed 64 bits), its low 32 bits taken here in Python, not by `hash_below`'s mask."""
    rows = _fetch(url, "SELECT id, hashtextextended(id, 0) FROM unnest(CAST(:ids AS text[])) AS id", {"ids": list(ids)})
    return {i for i, h in rows if h & (HASH_SPACE - 1) < threshold}


def _source(url: str, config, window: tuple, bound: int):
    columns = [config.source.id_column, config.source.timestamp_column]
    return Warehouse(url).read_monitor_window(config, columns, *window, bound)


def test_a_large_window_is_read_as_the_id_hash_sample_of_its_bound(warehouse, config):
    whole = _source(warehouse, config, CURRENT, ROWS)
    sampled = _source(warehouse, config, CURRENT, MAX_ROWS)

    assert not whole.sampled and whole.rows == len(whole.frame) == ROWS
    assert sampled.sampled and sampled.rows == ROWS
    assert sampled.threshold == sample_threshold(ROWS, MAX_ROWS) < HASH_SPACE
    assert abs(len(sampled.frame) - MAX_ROWS) < 5 * MAX_ROWS**0.5  # binomial: about the bound
    assert set(sampled.frame["customer_id"]) == _hashed_ids(warehouse, whole.frame["customer_id"], sampled.threshold)
    assert sampled.frame["snapshot_at"].is_monotonic_increasing
    pd.testing.assert_frame_equal(_source(warehouse, config, CURRENT, MAX_ROWS).frame, sampled.frame)


def test_hash_below_keeps_the_integer_ids_whose_text_hashes_below_the_threshold(warehouse):
    ids = "generate_series(1, 20000) AS i"
    threshold = HASH_SPACE // 10

    kept = _fetch(warehouse, f"SELECT i FROM {ids} WHERE {hash_below('i', threshold)} ORDER BY i")
    reported = _fetch(warehouse, f"SELECT i, hashtextextended(CAST(i AS text), 0) FROM {ids}")

    assert [i for (i,) in kept] == sorted(i for i, h in reported if h & (HASH_SPACE - 1) < threshold)
    assert min(h for _, h in reported) < 0  # the raw hash is signed: without the mask these would all pass
    assert abs(len(kept) - 2_000) < 5 * 2_000**0.5  # binomial: about a tenth
    assert _fetch(warehouse, f"SELECT count(*) FROM {ids} WHERE {hash_below('i', HASH_SPACE)}") == [(20_000,)]


def _reference(config, snapshot: str = "") -> Reference:
    return Reference("1", "x", snapshot, 0.8, config.features.columns)


def test_current_reads_samples_with_exact_counts_the_same_on_a_rerun(warehouse, config, tmp_path: Path):
    ctx = context(config, load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}), warehouse=warehouse)

    first = current(ctx, _reference(config))
    first_rows = pd.read_parquet(first.current), pd.read_parquet(first.matured)
    again = current(ctx, _reference(config))

    assert first.rows_current == first.rows_matured == ROWS
    assert first.sampled is True
    assert (first.rows_current_read, first.rows_matured_read) == tuple(len(f) for f in first_rows)
    assert abs(first.rows_current_read - MAX_ROWS) < 5 * MAX_ROWS**0.5
    assert abs(first.rows_matured_read - MAX_MATURED) < 5 * MAX_MATURED**0.5
    pd.testing.assert_frame_equal(pd.read_parquet(again.current), first_rows[0])
    pd.testing.assert_frame_equal(pd.read_parquet(again.matured), first_rows[1])


def test_served_rows_follow_the_sampled_ids(warehouse, config, tmp_path: Path):
    ctx = context(config, load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}), warehouse=warehouse)

    cur = current(ctx, _reference(config))

    for window, bound, path in ((CURRENT, MAX_ROWS, cur.served_current), (MATURED, MAX_MATURED, cur.served_matured)):
        source = _source(warehouse, config, window, bound)
        served = pd.read_parquet(path)
        assert set(served["id"]) == set(source.frame["customer_id"]) and len(served) == len(source.frame)


def test_drift_and_performance_run_on_the_sample(warehouse, config, tmp_path: Path):
    from demo.churn_data import generate_snapshots

    reference = generate_snapshots(6_000, END - timedelta(days=56), END - timedelta(days=21), seed=6)
    reference_path = tmp_path / "reference.parquet"
    reference.to_parquet(reference_path, index=False)
    tracker = FakeTracker(model=fit(config, reference))
    ctx = context(config, load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}), warehouse=warehouse, tracker=tracker)
    ref = _reference(config, str(reference_path))
    cur = current(ctx, ref)

    drift = data_drift(ctx, ref, cur)
    perf = performance(ctx, ref, cur)

    assert (drift.rows_window, drift.rows_read, drift.sampled) == (ROWS, cur.rows_current_read, True)
    assert drift.summary.n_current == min(cur.rows_current_read, MAX_ROWS)
    assert drift.prediction_source == "served" and drift.rows_served == cur.rows_current_read
    assert json.loads(Path(drift.report_json).read_text())["window"]["rows_window"] == ROWS
    assert perf.source == "served" and perf.rows == perf.rows_served == cur.rows_matured_read
    assert perf.coverage == 1.0 and perf.current_value is not None
