"""The champion and another version scored on the same matured rows: what the auto_rollback and
verify_promotion tasks both compare with the gate's paired test."""

from __future__ import annotations

import numpy as np

from include.retraining.artifacts import read_snapshot
from include.retraining.monitor.champion import ChampionScorer
from include.retraining.monitor.contracts import CurrentWindow, Reference
from include.retraining.promotion import score_version
from include.retraining.runs import StepContext
from include.retraining.tracking import UnusableModelError


class NotComparable(Exception):
    """The matured rows cannot decide between the two versions; the message says why."""


def matured_pair(
    ctx: StepContext, ref: Reference, cur: CurrentWindow, version: str, role: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, the champion's scores, `version`'s scores) on the window's labelled matured rows;
    NotComparable when they are too few or of one class, or `version` (named `role` in the
    message) cannot be loaded."""
    config = ctx.config
    matured = read_snapshot(cur.matured).dropna(subset=[config.target])
    y = matured[config.target].to_numpy()
    if len(matured) < config.monitor.min_rows or (config.task != "regression" and np.unique(y).size < 2):
        raise NotComparable(f"model {config.name!r}: {len(matured)} matured rows (one class or < monitor.min_rows)")
    champion_scores = ChampionScorer(ctx, ref).scores(matured)
    try:
        other_scores = score_version(ctx, f"models:/{config.name}/{version}", matured)
    except UnusableModelError as exc:
        raise NotComparable(f"model {config.name!r}: {role} {version} is unusable: {exc}") from exc
    return y, champion_scores, other_scores
