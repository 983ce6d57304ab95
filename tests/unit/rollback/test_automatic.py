"""The automatic rollback's decision, against fakes: it fires on a real regression, not on noise,
never twice in a row, at most once per monitor.auto_rollback_hold_days (a held-back one alerts),
never when switched off, and only from the champion it judged; the move goes through the rollback
path (one log row). The monitor's task that reads and scores the rows
is tested in tests/unit/monitor/test_rollback.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from include.retraining.common import Window
from include.retraining.promotion import move_champion
from include.retraining.rollback import (
    NoRollback,
    RollbackRefused,
    eligible,
    judge_rollback,
    roll_back_if_worse,
    rolled_back_by_this_run,
)
from include.retraining.tables import PromotionAction, PromotionRecord, append_once, history
from tests.unit.promotion.fakes import (
    CONFIG,
    GOOD,
    SIGNAL_FEATURES,
    Scorer,
    auto_rollback_context,
    context,
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


def test_a_retry_of_the_rolling_back_run_gets_the_same_rollback_and_another_run_none(tmp_path: Path) -> None:
    """The task died after the move, before its alert was recorded: its retry must announce the
    same rollback (the next run must not), and complete an alias move the crash lost."""
    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1")
    assert rolled_back_by_this_run(ctx) is None
    y, scores = _scored(WORSE, GOOD)
    done = roll_back_if_worse(ctx, ("2", "1"), y, scores, WINDOW)
    registry.aliases["champion"] = "2"  # the alias move lost with the crash; the log row stands

    again = rolled_back_by_this_run(ctx)

    assert again is not None and (again.log_id, again.from_version, again.to_version) == (done.log_id, "2", "1")
    assert again.action == "auto_rollback" and registry.aliases["champion"] == "1"
    assert len(history(ctx.pipeline_db, "churn")) == 1
    next_run = context(tmp_path, registry, ctx.tracker, run_id="scheduled__2", actor="scheduler", config=ctx.config)
    assert rolled_back_by_this_run(next_run) is None


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


def _retrain_promotes(ctx, registry, version: str) -> None:
    """A weekly retrain whose gate promotes a newly trained version over the champion (its holdout
    prefers the new recipe), through the promotion's own move path."""
    registry.versions[version] = f"run-{version}"
    current = registry.champion().version
    record = PromotionRecord("churn", version, PromotionAction.PROMOTE, "gate", current, run_url=f"retrain/{version}")
    move_champion(ctx.pipeline_db, registry, record, {})


def test_a_systematic_disagreement_flips_champion_back_at_most_once_per_hold(tmp_path: Path) -> None:
    """Three retrain + monitor cycles, a week apart: every retrain's gate promotes a new version and
    the matured labels always prefer the previous champion. Once rolled back, the monitor holds
    back (with one alert per held champion) instead of flipping back every week."""
    base, registry = auto_rollback_context(tmp_path, "a model", "a model")
    registry.aliases = {"champion": "1"}
    del registry.versions["2"]
    y, (worse, better) = _scored(WORSE, GOOD)
    held = []
    for week, version in enumerate(["2", "3", "4"]):
        end = WINDOW.end + timedelta(weeks=week)
        ctx = context(tmp_path, registry, base.tracker, f"scheduled__{week}", "scheduler", base.config, end)
        _retrain_promotes(ctx, registry, version)
        champion = registry.champion().version
        try:
            previous = eligible(ctx, champion)
            roll_back_if_worse(ctx, (champion, previous), y, (worse, better), Window(end - timedelta(days=7), end))
        except NoRollback as exc:
            held.append(exc)

    rows = list(reversed(history(base.pipeline_db, "churn")))
    back = [r for r in rows if any(r.to_version == earlier.from_version for earlier in rows[: rows.index(r)])]
    assert [(r.action, r.from_version, r.to_version) for r in back] == [(PromotionAction.AUTO_ROLLBACK, "2", "1")]
    assert registry.aliases["champion"] == "4", "the retrains still promote; only the flip back is held"
    alerts = [getattr(exc, "alert", None) for exc in held]
    assert [a.kind if a else None for a in alerts] == ["auto_rollback_held", "auto_rollback_held"]
    assert "held back" in alerts[0].title and "monitor.auto_rollback_hold_days=28" in alerts[0].lines[1]
    assert alerts[0].dedup_key != alerts[1].dedup_key, "one alert per held champion"


def test_after_the_hold_an_automatic_rollback_may_fire_again(tmp_path: Path) -> None:
    ctx, registry = auto_rollback_context(tmp_path, "v2", "v1")
    long_ago = ctx.run.window_end - timedelta(days=ctx.config.monitor.auto_rollback_hold_days + 1)
    old = PromotionRecord("churn", "1", PromotionAction.AUTO_ROLLBACK, "earlier", "0", at=long_ago)
    append_once(ctx.pipeline_db, old)
    append_once(ctx.pipeline_db, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate", "1"))
    y, scores = _scored(WORSE, GOOD)

    done = roll_back_if_worse(ctx, ("2", "1"), y, scores, WINDOW)

    assert done.action == "auto_rollback" and registry.aliases["champion"] == "1"


def test_the_hold_is_configurable_and_at_least_a_day() -> None:
    from pydantic import ValidationError

    assert CONFIG.monitor.auto_rollback_hold_days == 28
    assert CONFIG.monitor.model_validate({"auto_rollback_hold_days": 7}).auto_rollback_hold_days == 7
    with pytest.raises(ValidationError, match="auto_rollback_hold_days"):
        CONFIG.monitor.model_validate({"auto_rollback_hold_days": 0})
