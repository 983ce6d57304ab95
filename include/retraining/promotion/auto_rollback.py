"""Automatic rollback (`monitor.auto_rollback: true`): when the champion does significantly worse
on matured labels than `previous_champion` does on the same rows, roll back to it.

Significantly worse is the promotion gate's own rule (`gate.judge`: the paired one-sided interval,
the threshold, min_improvement and the guardrails) asked the other way round: would the gate
promote the previous champion over the current one on these rows? At confidence
`monitor.auto_rollback_confidence` (default 0.99, stricter than the gate's: the monitor tests
every day). Never twice in a row: after a rollback, nothing rolls back automatically until a
new promotion. The move itself is `rollback.roll_back`, action `auto_rollback`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from include.retraining.artifacts.snapshots import read_snapshot
from include.retraining.monitor.champion import ChampionScorer
from include.retraining.monitor.contracts import CurrentWindow, ReferenceInfo
from include.retraining.promotion.baseline import score_version
from include.retraining.promotion.moves import latest_move
from include.retraining.promotion.rollback import RollbackRequest, RolledBack, roll_back
from include.retraining.runs.context import StepContext
from include.retraining.tables.promotions import SCHEDULER, PromotionAction
from include.retraining.tracking.tracker import UnusableModelError


class NoRollback(Exception):
    """No automatic rollback this time; the message says why."""


def _eligible(ctx: StepContext, ref: ReferenceInfo) -> str:
    """The previous champion's version, when an automatic rollback may be considered at all."""
    model, monitor = ctx.config.name, ctx.config.monitor
    if not monitor.auto_rollback:
        raise NoRollback(f"model {model!r}: monitor.auto_rollback is off")
    newest = latest_move(ctx.warehouse_url, model)
    if newest is not None and newest.action.is_rollback:
        raise NoRollback(
            f"model {model!r}: the last move of champion was a {newest.action.value} (log row {newest.id}); "
            "no automatic rollback until a new promotion"
        )
    previous = ctx.registry.previous_champion()
    if previous is None or previous.version == ref["version"]:
        raise NoRollback(f"model {model!r}: no previous_champion to compare with")
    return previous.version


def judge_rollback(
    ctx: StepContext, y: np.ndarray, champion_scores: np.ndarray, previous_scores: np.ndarray
) -> tuple[bool, str, dict[str, Any]]:
    """The gate, asked whether it would promote the previous champion over the current one."""
    from include.retraining.learning.evaluation import compute_metrics
    from include.retraining.promotion.gate import judge

    config = ctx.config
    strict = config.model_copy(
        update={"gate": config.gate.model_copy(update={"confidence": config.monitor.auto_rollback_confidence})}
    )
    previous_metrics = compute_metrics(config.task, y, previous_scores)
    champion_metrics = compute_metrics(config.task, y, champion_scores)
    decision = judge(strict, y, previous_scores, champion_scores, previous_metrics, champion_metrics)
    return decision.promote, decision.reason, decision.to_dict()


def auto_rollback(ctx: StepContext, ref: ReferenceInfo, cur: CurrentWindow) -> RolledBack:
    """Roll back when the previous champion is significantly better on the matured rows, else NoRollback."""
    config = ctx.config
    previous = _eligible(ctx, ref)
    matured = read_snapshot(cur["matured"]).dropna(subset=[config.target])
    y = matured[config.target].to_numpy()
    if len(matured) < config.monitor.min_rows or (config.task == "classification" and np.unique(y).size < 2):
        raise NoRollback(f"model {config.name!r}: {len(matured)} matured rows (one class or < monitor.min_rows)")
    champion_scores = ChampionScorer(ctx, ref).scores(matured)
    try:
        previous_scores = score_version(ctx, f"models:/{config.name}/{previous}", matured)
    except UnusableModelError as exc:
        raise NoRollback(f"model {config.name!r}: previous_champion version {previous} is unusable: {exc}") from exc
    better, reason, figures = judge_rollback(ctx, y, champion_scores, previous_scores)
    window = cur["matured_window"]
    said = f"previous_champion version {previous} vs champion version {ref['version']} on {len(y)} matured rows "
    said += f"({window['start']} .. {window['end']}): {reason}"
    if not better:
        raise NoRollback(f"model {config.name!r}: no automatic rollback: {said}")
    request = RollbackRequest(
        to_version=previous,
        reason=f"automatic rollback: {said}",
        action=PromotionAction.AUTO_ROLLBACK,
        figures={**figures, "rows": len(y), "matured_window": dict(window)},
        expected_from=ref["version"],
        actor=SCHEDULER,
    )
    return roll_back(ctx, request)
