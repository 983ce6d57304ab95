"""Automatic rollback against fakes: it fires on a real regression, not on noise, never twice in a
row, and never when switched off; the move goes through the rollback path (one log row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.promotion.auto_rollback import NoRollback, auto_rollback
from include.retraining.tables import promotions as promotion_log
from include.retraining.tables.promotions import PromotionAction
from tests.unit.rollback_fakes import CONFIG, MovingRegistry, VersionTracker, context

pytestmark = pytest.mark.unit

ROWS = 3000
FEATURES = ["signal", "noise_a", "noise_b"]


class Scorer:
    """A fitted model's stand-in: the churn probability from its own columns."""

    def __init__(self, weights: dict[str, float]):
        self.weights = weights
        self.feature_names_in_ = np.array(FEATURES, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        logit = sum(w * frame[c].to_numpy() for c, w in self.weights.items())
        p = 1 / (1 + np.exp(-logit))
        return np.column_stack([1 - p, p])


def _matured(tmp_path: Path, seed: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=ROWS) for c in FEATURES})
    frame["churned"] = (rng.random(ROWS) < 1 / (1 + np.exp(-1.5 * frame["signal"]))).astype(int)
    path = tmp_path / "matured.parquet"
    frame.to_parquet(path)
    window = {"start": "2026-03-16T02:00:00+00:00", "end": "2026-03-23T02:00:00+00:00"}
    return {"matured": str(path), "matured_window": window, "window": window}


def _setup(tmp_path: Path, champion: Scorer, previous: Scorer, on: bool = True):
    config = CONFIG.model_copy(
        update={
            "target": "churned",
            "monitor": CONFIG.monitor.model_copy(update={"auto_rollback": on}),
            "gate": CONFIG.gate.model_copy(update={"metric": "roc_auc", "guardrails": {}, "threshold": None}),
        }
    )
    registry = MovingRegistry(
        versions={"1": "run-1", "2": "run-2"}, aliases={"champion": "2", "previous_champion": "1"}
    )
    tracker = VersionTracker(models={"models:/churn/2": champion, "models:/churn/1": previous})
    ctx = context(tmp_path, registry, tracker, run_id="scheduled__1", actor="scheduler", config=config)
    ref = {"version": "2", "run_id": "run-2", "snapshot": "", "holdout_metric": 0.8, "features": FEATURES}
    return ctx, registry, ref


GOOD = Scorer({"signal": 1.5})


def test_a_significant_regression_rolls_back_once_and_logs_it(tmp_path: Path) -> None:
    ctx, registry, ref = _setup(tmp_path, champion=Scorer({"signal": 0.3, "noise_a": 1.0}), previous=GOOD)
    cur = _matured(tmp_path)

    done = auto_rollback(ctx, ref, cur)

    assert registry.aliases == {"champion": "1", "previous_champion": "2"}
    (row,) = promotion_log.history(ctx.warehouse_url, "churn")
    assert row.action is PromotionAction.AUTO_ROLLBACK and row.actor == "scheduler" and done.log_id == row.id
    assert row.reason.startswith("automatic rollback: previous_champion version 1 vs champion version 2")
    assert row.figures["rows"] == ROWS and row.figures["interval"]["confidence"] == 0.99

    # Version 1 now serves and version 2 is previous_champion: a worse 1 would flip back, but not
    # before a new promotion.
    ref_now = {**ref, "version": "1"}
    with pytest.raises(NoRollback, match="last move of champion was a auto_rollback"):
        auto_rollback(ctx, ref_now, cur)
    assert registry.moves == ["1"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_between_equally_good_models_never_rolls_back(tmp_path: Path, seed: int) -> None:
    champion, previous = Scorer({"signal": 1.5, "noise_a": 0.2}), Scorer({"signal": 1.5, "noise_b": 0.2})
    ctx, registry, ref = _setup(tmp_path, champion, previous)

    with pytest.raises(NoRollback, match="no automatic rollback: previous_champion version 1"):
        auto_rollback(ctx, ref, _matured(tmp_path, seed))

    assert registry.moves == [] and promotion_log.history(ctx.warehouse_url, "churn") == []


def test_off_by_default_and_nothing_to_compare_with(tmp_path: Path) -> None:
    assert CONFIG.monitor.auto_rollback is False
    ctx, registry, ref = _setup(tmp_path, Scorer({"noise_a": 1.0}), GOOD, on=False)
    with pytest.raises(NoRollback, match="monitor.auto_rollback is off"):
        auto_rollback(ctx, ref, _matured(tmp_path))
    ctx, registry, ref = _setup(tmp_path, Scorer({"noise_a": 1.0}), GOOD)
    del registry.aliases["previous_champion"]
    with pytest.raises(NoRollback, match="no previous_champion"):
        auto_rollback(ctx, ref, _matured(tmp_path))
