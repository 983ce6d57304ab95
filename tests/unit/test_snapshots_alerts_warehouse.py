from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.churn_data import World, generate_snapshots
from include.retraining.artifacts.snapshots import content_hash, write_snapshot
from include.retraining.common.windows import Window
from include.retraining.config.model import load_model_config

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


def test_broken_load_world_nulls_and_renames() -> None:
    frame = generate_snapshots(
        200,
        START,
        START + WEEK,
        world=World(null_columns=("monthly_charges",), renamed_categories={"contract": {"one_year": "1yr"}}),
    )
    assert frame["monthly_charges"].isna().all() and "1yr" in set(frame["contract"])
