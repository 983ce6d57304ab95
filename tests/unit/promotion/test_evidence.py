"""Pooling gate evidence across consecutive retrains: which earlier rows may join a decision, and
the evidence as the tracker stores it (one frame per decision) and back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from include.retraining.promotion import HoldoutEvidence, in_tenure, pool_evidence
from include.retraining.promotion.evidence import from_frame, to_frame

pytestmark = pytest.mark.unit

HOLDOUT_DAYS, WEEK = 12.6, 7.0
# The baseline became champion on day 0; each week's decision is made at the end of its holdout.
TENURE = 0.0


def _holdout(week: int, baseline: str = "1", recipe: str = "h", rows_per_day: int = 10) -> HoldoutEvidence:
    """The holdout of the retrain `week` weeks after the baseline: (7 week - 12.6, 7 week] in days."""
    end = WEEK * week
    grid = np.linspace(end - HOLDOUT_DAYS, end, int(HOLDOUT_DAYS * rows_per_day), endpoint=False) + 0.05
    times = np.round(grid, 6)  # exact moments, as a warehouse's timestamps are: one row, one time
    rng = np.random.default_rng(week)
    y = rng.integers(0, 2, times.size)
    ids = np.round(times * 1000).astype("int64")  # one row per moment: the same row in two holdouts has one id
    scores = rng.random((2, times.size))
    run_id = f"run{week}{baseline}{recipe}"
    return HoldoutEvidence(run_id, baseline, recipe, times, y, scores[0], scores[1], ids, started_at=end)


def test_the_current_holdout_comes_first_and_older_ones_add_only_rows_before_it() -> None:
    current, earlier = _holdout(3), [_holdout(1), _holdout(2)]

    pooled = pool_evidence(current, earlier, windows=3, baseline_cutoff=-HOLDOUT_DAYS, since=TENURE)

    assert pooled.run_ids == ("run31h", "run21h", "run11h")
    assert pooled.rows_per_window[0] == current.rows
    # week 2 adds the 7 days before week 3's holdout, week 1 the 7 days before week 2's
    assert pooled.rows_per_window[1:] == (70, 70)
    np.testing.assert_array_equal(pooled.y[: current.rows], current.y)
    np.testing.assert_array_equal(pooled.challenger[: current.rows], current.challenger)


def test_no_row_is_pooled_twice() -> None:
    def by_row(week: int) -> HoldoutEvidence:  # each row's challenger score is its own id
        h = _holdout(week)
        return replace(h, challenger=h.ids.astype(float))

    pooled = pool_evidence(
        by_row(4), [by_row(w) for w in (1, 2, 3)], windows=4, baseline_cutoff=-HOLDOUT_DAYS, since=TENURE
    )

    assert pooled.windows == 4 and len(set(pooled.challenger.tolist())) == pooled.rows


def test_the_same_ids_at_an_older_time_are_other_rows_and_are_pooled() -> None:
    current, older = _holdout(2), _holdout(1)
    moved = older.ids.copy()
    moved[:5] = current.ids[:5]  # the same customers, scored again at an older snapshot time
    relabelled = replace(older, ids=moved)

    pooled = pool_evidence(current, [relabelled], windows=2, baseline_cutoff=-HOLDOUT_DAYS, since=TENURE)

    # Weekly snapshots of the same customers: each (id, timestamp) is its own row.
    assert pooled.rows_per_window == (current.rows, 70)


def test_only_the_latest_windows_minus_one_earlier_decisions_are_pooled() -> None:
    pooled = pool_evidence(
        _holdout(5), [_holdout(w) for w in (1, 2, 3, 4)], windows=2, baseline_cutoff=-HOLDOUT_DAYS, since=TENURE
    )
    assert pooled.run_ids == ("run51h", "run41h")


def test_evidence_against_another_champion_or_from_another_recipe_is_ignored() -> None:
    earlier = [_holdout(2, baseline="0"), _holdout(2, recipe="other"), _holdout(1)]

    pooled = pool_evidence(_holdout(3), earlier, windows=3, baseline_cutoff=-HOLDOUT_DAYS, since=TENURE)

    assert pooled.run_ids == ("run31h", "run11h")


def test_rows_the_baseline_trained_on_are_never_pooled() -> None:
    # The baseline trained until day 0: of week 1's rows before week 2's holdout, only (0, 1.4] are unseen.
    pooled = pool_evidence(_holdout(2), [_holdout(1)], windows=2, baseline_cutoff=0.0, since=TENURE)
    assert pooled.rows_per_window[1] == 14


def test_without_the_baselines_training_cutoff_only_the_current_holdout_is_used() -> None:
    current = _holdout(3)

    pooled = pool_evidence(current, [_holdout(2)], windows=3, baseline_cutoff=None, since=TENURE)

    assert pooled.windows == 1 and pooled.rows == current.rows and "cutoff is unknown" in pooled.note


def test_a_newer_or_same_run_adds_nothing() -> None:
    current = _holdout(2)
    pooled = pool_evidence(current, [current, _holdout(3)], windows=3, baseline_cutoff=-HOLDOUT_DAYS, since=TENURE)
    assert pooled.run_ids == ("run21h",)


def test_after_a_rollback_to_an_old_baseline_only_decisions_of_its_current_tenure_are_pooled() -> None:
    # Baseline 1 was champion for weeks 1-2, replaced, and rolled back to on day 20.
    current, earlier = _holdout(4), [_holdout(1), _holdout(2), _holdout(3)]

    pooled = pool_evidence(current, earlier, windows=4, baseline_cutoff=-HOLDOUT_DAYS, since=20.0)

    assert pooled.run_ids == ("run41h", "run31h")
    assert "2 earlier decision(s) against version 1 were made before its current tenure" in pooled.note


def test_without_the_start_of_the_baselines_tenure_only_the_current_holdout_is_used() -> None:
    current = _holdout(3)

    pooled = pool_evidence(current, [_holdout(2)], windows=3, baseline_cutoff=-HOLDOUT_DAYS, since=None)

    assert pooled.windows == 1 and pooled.rows == current.rows
    assert "does not show when version 1's current tenure as champion began" in pooled.note


@pytest.mark.parametrize(
    ("started_at", "since", "inside"),
    [
        (14.0, 14.0, True),  # decided at the moment the alias moved: this tenure
        (14.0, 14.5, False),  # started before the move: an earlier tenure, or the move came mid-run
        (None, 0.0, False),  # start unknown: never pooled
        (14.0, None, False),  # tenure start unknown: nothing is
    ],
)
def test_a_decision_is_in_the_tenure_when_its_run_started_at_or_after_the_move(
    started_at: float | None, since: float | None, inside: bool
) -> None:
    decision = replace(_holdout(2), started_at=started_at)
    assert in_tenure([decision], since) == ([decision] if inside else [])


@pytest.mark.parametrize("ids", ["int ids", "text ids", "no ids"])
def test_evidence_round_trips_through_the_frame_the_tracker_stores(ids: str) -> None:
    week = _holdout(2)
    stamps = (week.timestamps * 86_400 * 10**9).astype("int64")  # ns, as the evidence of a real holdout
    text = np.array([f"C{i}" for i in week.ids], dtype=object)
    evidence = replace(week, timestamps=stamps, ids={"int ids": week.ids, "text ids": text, "no ids": None}[ids])

    frame = to_frame(evidence)
    back = from_frame(frame, evidence.run_id, "1", "h", started_at=42)

    expected = ["timestamp", "y", "challenger", "champion"] + ([] if ids == "no ids" else ["id"])
    assert list(frame.columns) == expected and len(frame) == evidence.rows
    assert frame["timestamp"].dtype == "int64" and frame["challenger"].dtype == "float64"
    assert (back.run_id, back.compared_with, back.config_hash, back.started_at) == (evidence.run_id, "1", "h", 42)
    for name in ("timestamps", "y", "challenger", "champion"):
        np.testing.assert_array_equal(getattr(back, name), getattr(evidence, name))
    if ids == "no ids":
        assert back.ids is None
    else:
        np.testing.assert_array_equal(back.ids, evidence.ids)


def test_a_frame_read_back_from_parquet_is_the_same_evidence(tmp_path) -> None:
    evidence = replace(_holdout(3), timestamps=np.arange(126, dtype="int64") * 10**9)
    path = tmp_path / "holdout.parquet"
    to_frame(evidence).to_parquet(path, index=False)

    back = from_frame(pd.read_parquet(path), evidence.run_id, "1", "h")

    pooled = pool_evidence(back, [], windows=1, baseline_cutoff=None, since=None)
    np.testing.assert_array_equal(pooled.y, evidence.y)
    np.testing.assert_array_equal(back.timestamps, evidence.timestamps)
    np.testing.assert_array_equal(back.ids, evidence.ids)
    assert back.started_at is None
