from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.churn_data import World, generate_snapshots
from include.retraining.config import load_model_config
from include.retraining.snapshots import content_hash, write_snapshot
from include.retraining.warehouse import WarehouseError, read_window, replace_window
from include.retraining.windows import Window

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
START = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_generator_is_deterministic_per_seed_and_period() -> None:
    a = generate_snapshots(500, START, START + WEEK, seed=1)
    assert content_hash(a) == content_hash(generate_snapshots(500, START, START + WEEK, seed=1))
    assert content_hash(a) != content_hash(generate_snapshots(500, START, START + WEEK, seed=2))


def test_snapshot_is_content_addressed_and_rewritten_identically(tmp_path: Path) -> None:
    frame = generate_snapshots(300, START, START + WEEK, seed=1)
    window = Window(START, START + WEEK)

    first, second = write_snapshot(frame, tmp_path, "churn", window), write_snapshot(frame, tmp_path, "churn", window)

    assert first == second and first.path.name.startswith(first.content_hash[:16])
    assert list(first.path.parent.glob("*.tmp")) == []


def test_sqlite_window_is_half_open_and_reload_replaces(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    week = generate_snapshots(400, START, START + WEEK, seed=1)
    replace_window(url, "customer_snapshots", week, "snapshot_at", START, START + WEEK)
    replace_window(url, "customer_snapshots", week, "snapshot_at", START, START + WEEK)
    columns = ["customer_id", "snapshot_at", "churned", *CONFIG.features.columns]

    frame = read_window(url, CONFIG.source, columns, START, START + WEEK)
    later = read_window(url, CONFIG.source, columns, START + WEEK, START + 2 * WEEK)

    assert len(frame) == 400 and len(later) == 0
    assert frame["snapshot_at"].is_monotonic_increasing


def test_missing_column_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    frame = generate_snapshots(50, START, START + WEEK, seed=1).drop(columns=["region"])
    replace_window(url, "customer_snapshots", frame, "snapshot_at", START, START + WEEK)

    with pytest.raises(WarehouseError, match=r"no column\(s\) \['region'\]"):
        read_window(url, CONFIG.source, ["snapshot_at", "region"], START, START + WEEK)


def test_broken_load_world_nulls_and_renames() -> None:
    frame = generate_snapshots(
        200,
        START,
        START + WEEK,
        world=World(null_columns=("monthly_charges",), renamed_categories={"contract": {"one_year": "1yr"}}),
    )
    assert frame["monthly_charges"].isna().all() and "1yr" in set(frame["contract"])
