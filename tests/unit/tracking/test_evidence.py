"""The evidence store on a real MLflow SQLite store: a decision's evidence frame round-trips, is
found by baseline and recipe with its run's start time, and a run whose file is gone is left out,
not an error. (What the frame holds is the promotion package's: promotion/evidence.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.common import as_nanoseconds, load_settings
from include.retraining.learning import SKOPS_TRUSTED_TYPES
from include.retraining.tracking import CONFIG_HASH_TAG, TRAIN_UNTIL_TAG, StoredEvidence, Tracker
from include.retraining.tracking.tags import EVIDENCE_BASELINE_TAG

pytestmark = pytest.mark.unit


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")}), trusted_types=SKOPS_TRUSTED_TYPES)


def _run(tracker: Tracker, experiment_id: str, recipe: str, tags: dict | None = None) -> str:
    run = tracker.client.create_run(experiment_id, tags={CONFIG_HASH_TAG: recipe, **(tags or {})})
    tracker.client.set_terminated(run.info.run_id)
    return run.info.run_id


def _frame(start: int, ids: bool = True) -> pd.DataFrame:
    rows = np.arange(start, start + 50, dtype="int64")
    rng = np.random.default_rng(start)
    frame = pd.DataFrame(
        {
            "timestamp": rows * 10**9,
            "y": rng.integers(0, 2, 50),
            "challenger": rng.random(50),
            "champion": rng.random(50),
        }
    )
    if ids:
        frame["id"] = [f"C{i}" for i in rows]
    return frame


def test_evidence_round_trips_and_is_found_by_baseline_and_recipe(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    logged = {}
    for start, baseline, recipe in [(0, "1", "h"), (100, "1", "h"), (200, "2", "h"), (300, "1", "other")]:
        run_id = _run(tracker, experiment_id, recipe)
        frame = _frame(start, ids=start != 100)
        tracker.evidence.log(run_id, baseline, frame)
        logged[run_id] = frame

    found = tracker.evidence.earlier(experiment_id, "1", "h", limit=5)

    assert all(isinstance(e, StoredEvidence) for e in found)
    assert sorted(logged[e.run_id]["timestamp"].iloc[0] for e in found) == [0, 100 * 10**9]
    assert [e.run_id for e in found] == sorted(
        (e.run_id for e in found), key=lambda r: tracker.client.get_run(r).info.start_time, reverse=True
    ), "newest run first"
    for got in found:
        pd.testing.assert_frame_equal(got.frame, logged[got.run_id])
        assert got.started_at == tracker.client.get_run(got.run_id).info.start_time * 10**6  # ns, from MLflow
        assert tracker.client.get_run(got.run_id).data.tags[EVIDENCE_BASELINE_TAG] == "1"
    assert len(tracker.evidence.earlier(experiment_id, "1", "h", limit=1)) == 1


def test_a_run_whose_evidence_file_is_gone_is_left_out(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    kept, lost = (_run(tracker, experiment_id, "h") for _ in range(2))
    tracker.evidence.log(kept, "1", _frame(0))
    tracker.evidence.log(lost, "1", _frame(100))
    artifacts = Path(tracker.client.get_run(lost).info.artifact_uri.removeprefix("file://"))
    shutil.rmtree(artifacts / "evidence")

    assert [e.run_id for e in tracker.evidence.earlier(experiment_id, "1", "h", limit=5)] == [kept]


def test_a_run_without_evidence_is_not_found(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    _run(tracker, experiment_id, "h")  # trained with the recipe, its decision never stored evidence

    assert tracker.evidence.earlier(experiment_id, "1", "h", limit=5) == []


def test_the_training_cutoff_is_read_from_the_run_and_unknown_without_the_tag(tracker: Tracker) -> None:
    experiment_id = tracker.ensure_experiment("churn")
    tagged = _run(tracker, experiment_id, "h", {TRAIN_UNTIL_TAG: "2026-03-01T00:00:00+00:00"})
    untagged = _run(tracker, experiment_id, "h")

    assert tracker.evidence.training_cutoff(tagged) == as_nanoseconds(np.datetime64("2026-03-01T00:00:00"))
    assert tracker.evidence.training_cutoff(untagged) is None
