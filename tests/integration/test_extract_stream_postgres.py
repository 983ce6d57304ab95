"""Extract on a real PostgreSQL scratch database streams the window into its snapshot; the same
rows extracted from SQLite (the pandas path), or read whole from PostgreSQL into a frame and
written, give the same snapshot: one file name, one hash, one schema, equal rows. A rerun finds
the file it wrote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from demo.churn_data import TABLE, generate_snapshots, load_window
from include.retraining.artifacts import read_snapshot, write_snapshot
from include.retraining.common import load_settings, training_window
from include.retraining.config import load_model_config
from include.retraining.learning import TrainingDataError
from include.retraining.retrain import Extracted
from tests.support import PG_ADMIN_URL, REPO, postgres_databases, service_unavailable

pytestmark = pytest.mark.integration

CONFIG = load_model_config(REPO / "include" / "models" / "churn.yaml")
WINDOW_END = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW = training_window(WINDOW_END, CONFIG.training.window_days, CONFIG.training.label_delay_days)
ROWS = generate_snapshots(4000, WINDOW.start, WINDOW.end, seed=5)


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The same rows in a PostgreSQL scratch database and in a SQLite file."""
    name = f"wh_stream_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means it is not there
        service_unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    urls = {
        "postgres": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}",
        "sqlite": f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'warehouse.db'}",
    }
    try:
        for url in urls.values():
            load_window(url, TABLE, ROWS, WINDOW.start, WINDOW.end)
        yield urls
    finally:
        postgres_databases(name, drop=True)


def _extract(url: str, root: Path, monkeypatch: pytest.MonkeyPatch, **training: object) -> Extracted:
    from include.retraining.retrain import extract
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Warehouse

    monkeypatch.setenv("RETRAINING_DATA_DIR", str(root))
    config = CONFIG.model_copy(update={"training": CONFIG.training.model_copy(update=training)})
    run = RunInfo(dag_id="retrain_churn", run_id="manual__1", window_end=WINDOW_END)
    return extract(StepContext.create(config, load_settings(), run, Warehouse(url)))


def test_the_streamed_snapshot_equals_the_pandas_paths_for_the_same_rows(
    warehouses: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.retraining.warehouse import Warehouse

    streamed = _extract(warehouses["postgres"], tmp_path / "pg", monkeypatch)
    embedded = _extract(warehouses["sqlite"], tmp_path / "sqlite", monkeypatch)
    columns = list(read_snapshot(streamed.path).columns)
    whole = Warehouse(warehouses["postgres"]).read_window(
        CONFIG.source, columns, WINDOW.start, WINDOW.end, model="churn"
    )
    framed = write_snapshot(whole, tmp_path / "frame", CONFIG.name, WINDOW, plain_strings=["customer_id"])

    assert streamed.rows == embedded.rows == framed.rows == len(ROWS)
    assert streamed.content_hash == embedded.content_hash == framed.content_hash
    assert Path(streamed.path).name == Path(embedded.path).name == framed.path.name
    assert pq.read_schema(streamed.path) == pq.read_schema(embedded.path) == pq.read_schema(framed.path)
    expected = ROWS[columns].sort_values(["snapshot_at", "customer_id"], kind="mergesort").reset_index(drop=True)
    pd.testing.assert_frame_equal(read_snapshot(streamed.path), expected)
    pd.testing.assert_frame_equal(read_snapshot(embedded.path), expected)


def test_a_rerun_of_the_streamed_extract_finds_the_same_file(
    warehouses: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _extract(warehouses["postgres"], tmp_path, monkeypatch)
    written = Path(first.path).stat().st_mtime_ns

    again = _extract(warehouses["postgres"], tmp_path, monkeypatch)

    assert again == first and Path(again.path).stat().st_mtime_ns == written
    assert [p.name for p in Path(first.path).parent.iterdir()] == [Path(first.path).name]


def test_a_window_below_min_rows_writes_no_snapshot(
    warehouses: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TrainingDataError, match=r"has 4000 rows, fewer than training.min_rows=5000"):
        _extract(warehouses["postgres"], tmp_path, monkeypatch, min_rows=5000)
    assert [p for p in tmp_path.rglob("*.parquet")] + [p for p in tmp_path.rglob("*.tmp")] == []
