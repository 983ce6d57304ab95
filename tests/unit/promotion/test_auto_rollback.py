"""The automatic rollback's decision, against fakes: it fires on a real regression, not on noise,
never twice in a row, never when switched off, and only from the champion it judged; the move
goes through the rollback path (one log row). The monitor's task that reads and scores the rows
is tested in tests/unit/monitor/test_rollback.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from include.retraining.common import Window
from include.retraining.promotion import NoRollback, RollbackRefused, eligible, judge_rollback, roll_back_if_worse
from include.retraining.tables import PromotionAction, history
from tests.unit.promotion.fakes import (
    CONFIG,
    GOOD,
    SIGNAL_FEATURES,
    Scorer,
    auto_rollback_context,
    signal_rows,
)

pytestmark = pytest.mark.unit

WINDOW = Window(datetime(2026, 3, 16, 2, tzinfo=UTC), datetime(2026, 3, 23, 2, tzinfo=UTC))
WORSE = {"signal": 0.3, "noise_a": 1.0}


def _scored(champion: dict, previous: dict, seed: int = 5) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The labels of the matured rows and (champion's, previous champion's) scores of them."""
    rows = signal_rows(seed=seed)
    scores = [Scorer(w, SIGNAL_FEATURES).predict_proba(rows[SIGNAL_FEATURES])[:, 1] for w in (champion, previous)]
    return rows["churned"].to_numpy(), (scores[0], scores[1])


def test_a_significant_regression_rolls_back_once_and_logs_it(tmp_path: Path) -> None:
    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1")
    y, scores = _scored(WORSE, GOOD)

    done = roll_back_if_worse(ctx, ("2", "1"), y, scores, WINDOW)

    assert registry.aliases == {"champion": "1", "previous_champion": "2"}
    (row,) = history(ctx.pipeline_db, "churn")
    assert row.action is PromotionAction.AUTO_ROLLBACK and row.actor == "scheduler" and done.log_id == row.id
    assert row.reason.startswith("automatic rollback: previous_champion version 1 vs champion version 2 on 3000")
    assert "(2026-03-16T02:00:00+00:00 .. 2026-03-23T02:00:00+00:00)" in row.reason
    assert row.figures["rows"] == len(y) and row.figures["interval"]["confidence"] == 0.99
    assert row.figures["matured_window"] == WINDOW.to_dict()

    # Version 1 now serves and version 2 is previous_champion: a worse 1 would flip back, but not
    # before a new promotion.
    with pytest.raises(NoRollback, match="last move of champion was a auto_rollback"):
        eligible(ctx, "1")
    assert registry.moves == ["1"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_between_equally_good_models_never_rolls_back(tmp_path: Path, seed: int) -> None:
    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1")
    y, scores = _scored({"signal": 1.5, "noise_a": 0.2}, {"signal": 1.5, "noise_b": 0.2}, seed)

    better, _, _ = judge_rollback(ctx.config, y, *scores)
    with pytest.raises(NoRollback, match="no automatic rollback: previous_champion version 1"):
        roll_back_if_worse(ctx, ("2", "1"), y, scores, WINDOW)

    assert better is False and registry.moves == [] and history(ctx.pipeline_db, "churn") == []


def test_the_rollback_is_judged_at_its_own_stricter_confidence(tmp_path: Path) -> None:
    ctx, _ = auto_rollback_context(tmp_path, "v2", "v1")
    y, scores = _scored(WORSE, GOOD)

    better, reason, figures = judge_rollback(ctx.config, y, *scores)

    assert ctx.config.gate.confidence != ctx.config.monitor.auto_rollback_confidence == 0.99
    assert better is True and figures["interval"]["confidence"] == 0.99 and reason


def test_off_by_default_and_nothing_to_compare_with(tmp_path: Path) -> None:
    assert CONFIG.monitor.auto_rollback is False
    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1", on=False)
    with pytest.raises(NoRollback, match="monitor.auto_rollback is off"):
        eligible(ctx, "2")

    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1")
    assert eligible(ctx, "2") == "1"
    with pytest.raises(NoRollback, match="no previous_champion"):
        eligible(ctx, "1")  # previous_champion is the version judged: nothing else to compare with
    del registry.aliases["previous_champion"]
    with pytest.raises(NoRollback, match="no previous_champion"):
        eligible(ctx, "2")


def test_a_champion_moved_after_it_was_judged_is_not_rolled_back(tmp_path: Path) -> None:
    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1")
    registry.versions["3"] = "run-3"
    registry.aliases["champion"] = "3"  # a promotion while the monitor was scoring version 2
    y, scores = _scored(WORSE, GOOD)

    with pytest.raises(RollbackRefused, match="changed from version 2 to 3 after it was judged"):
        roll_back_if_worse(ctx, ("2", "1"), y, scores, WINDOW)

    assert registry.aliases["champion"] == "3" and history(ctx.pipeline_db, "churn") == []
