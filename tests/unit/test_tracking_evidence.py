"""The evidence store on a real MLflow SQLite store: a decision's per-row evidence round-trips,
is found by baseline and recipe with its run's start time, and a run whose file is gone is left
out, not an error."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from include.retraining.common.settings import load_settings
from include.retraining.promotion.evidence import HoldoutEvidence
from include.retraining.tracking.evidence import TRAIN_UNTIL_TAG, as_nanoseconds
from include.retraining.tracking.tracker import CONFIG_HASH_TAG, Tracker

pytestmark = pytest.mark.unit


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker.connect(load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")}))


def _run(tracker: Tracker, experiment_id: str, recipe: str, tags: dict | None = None) -> str:
    run = tracker.client.create_run(experiment_id, tags={CONFIG_HASH_TAG: recipe, **(tags or {})})
    tracker.client.set_terminated(run.info.run_id)
    return run.info.run_id


def _evidence(run_id: str, baseline: str, start: int, ids: bool = True) -> HoldoutEvidence:
    rows = np.arange(start, start + 50, dtype="int64")
    rng = np.random.default_rng(start)
    return HoldoutEvidence(
        run_id,
        baseline,
        "h",
        rows * 10**9,
        rng.integers(0, 2, 50),
        rng.random(50),
        rng.random(50),
        np.array([f"C{i}" for i in rows]) if ids else None,
    )


def test_evidence_round_trips_and_is_found_by_baseline_and_recipe(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    logged = {}
    for start, baseline, recipe in [(0, "1", "h"), (100, "1", "h"), (200, "2", "h"), (300, "1", "other")]:
        run_id = _run(tracker, experiment_id, recipe)
        evidence = replace(_evidence(run_id, baseline, start, ids=start != 100), config_hash=recipe)
        tracker.evidence.log(evidence)
        logged[run_id] = evidence

    found = {e.run_id: e for e in tracker.evidence.earlier(experiment_id, "1", "h", limit=5)}

    assert sorted(logged[r].timestamps[0] for r in found) == [0, 100 * 10**9]
    for run_id, got in found.items():
        want = logged[run_id]
        np.testing.assert_array_equal(got.timestamps, want.timestamps)
        np.testing.assert_array_equal(got.y, want.y)
        np.testing.assert_allclose(got.challenger, want.challenger)
        np.testing.assert_allclose(got.champion, want.champion)
        assert (got.ids is None) == (want.ids is None)
        assert got.started_at == tracker.client.get_run(run_id).info.start_time * 10**6  # ns, from MLflow


def test_a_run_whose_evidence_file_is_gone_is_left_out(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    kept, lost = (_run(tracker, experiment_id, "h") for _ in range(2))
    tracker.evidence.log(_evidence(kept, "1", 0))
    tracker.evidence.log(_evidence(lost, "1", 100))
    artifacts = Path(tracker.client.get_run(lost).info.artifact_uri.removeprefix("file://"))
    shutil.rmtree(artifacts / "evidence")

    assert [e.run_id for e in tracker.evidence.earlier(experiment_id, "1", "h", limit=5)] == [kept]


def test_the_training_cutoff_is_read_from_the_run_and_unknown_without_the_tag(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    tagged = _run(tracker, experiment_id, "h", {TRAIN_UNTIL_TAG: "2026-03-01T00:00:00+00:00"})
    untagged = _run(tracker, experiment_id, "h")

    assert tracker.evidence.training_cutoff(tagged) == as_nanoseconds(np.datetime64("2026-03-01T00:00:00"))
    assert tracker.evidence.training_cutoff(untagged) is None
