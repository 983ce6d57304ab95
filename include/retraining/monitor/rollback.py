"""The monitor's `auto_rollback` task (`monitor.auto_rollback: true`): the champion and the previous
champion scored on the same matured rows, handed to the promotion package, which decides with
the gate's own rule and moves `champion` back when the previous one is significantly better."""

from __future__ import annotations

import numpy as np

from include.retraining.artifacts import read_snapshot
from include.retraining.monitor.champion import ChampionScorer
from include.retraining.monitor.contracts import CurrentWindow, Reference
from include.retraining.promotion import score_version
from include.retraining.rollback import NoRollback, RolledBack, eligible, roll_back_if_worse
from include.retraining.runs import StepContext
from include.retraining.tracking import UnusableModelError


def auto_rollback(ctx: StepContext, ref: Reference, cur: CurrentWindow) -> RolledBack:
    """Roll back when the previous champion is significantly better on the matured rows, else
    raise NoRollback with the reason."""
    config = ctx.config
    previous = eligible(ctx, ref.version)
    matured = read_snapshot(cur.matured).dropna(subset=[config.target])
    y = matured[config.target].to_numpy()
    if len(matured) < config.monitor.min_rows or (config.task == "classification" and np.unique(y).size < 2):
        raise NoRollback(f"model {config.name!r}: {len(matured)} matured rows (one class or < monitor.min_rows)")
    champion_scores = ChampionScorer(ctx, ref).scores(matured)
    try:
        previous_scores = score_version(ctx, f"models:/{config.name}/{previous}", matured)
    except UnusableModelError as exc:
        raise NoRollback(f"model {config.name!r}: previous_champion version {previous} is unusable: {exc}") from exc
    return roll_back_if_worse(ctx, (ref.version, previous), y, (champion_scores, previous_scores), cur.matured_window)
