"""Automatic rollback (`monitor.auto_rollback: true`): when the champion does significantly worse
on matured labels than `previous_champion` does on the same rows, roll back to it.

Significantly worse is the promotion gate's own rule (`gate.judge`: the paired one-sided interval,
the threshold, min_improvement and the guardrails) asked the other way round: would the gate
promote the previous champion over the current one on these rows? At confidence
`monitor.auto_rollback_confidence` (default 0.99, stricter than the gate's: the monitor tests
every day). Never twice in a row: after a rollback, nothing rolls back automatically until a
new promotion. The move itself is `rollback.roll_back`, action `auto_rollback`. The monitor
reads and scores the rows (`monitor.auto_rollback`, monitor/rollback.py); this module decides and moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from include.retraining.common import Window
from include.retraining.config import ModelConfig
from include.retraining.learning import compute_metrics
from include.retraining.promotion.gate import judge
from include.retraining.promotion.moves import latest_move
from include.retraining.promotion.rollback import RollbackRequest, RolledBack, roll_back
from include.retraining.runs import StepContext
from include.retraining.tables import SCHEDULER, PromotionAction


class NoRollback(Exception):
    """No automatic rollback this time; the message says why."""


def eligible(ctx: StepContext, champion_version: str) -> str:
    """The previous champion's version, when an automatic rollback may be considered at all."""
    model, monitor = ctx.config.name, ctx.config.monitor
    if not monitor.auto_rollback:
        raise NoRollback(f"model {model!r}: monitor.auto_rollback is off")
    newest = latest_move(ctx.pipeline_db, model)
    if newest is not None and newest.action.is_rollback:
        raise NoRollback(
            f"model {model!r}: the last move of champion was a {newest.action.value} (log row {newest.id}); "
            "no automatic rollback until a new promotion"
        )
    previous = ctx.registry.previous_champion()
    if previous is None or previous.version == champion_version:
        raise NoRollback(f"model {model!r}: no previous_champion to compare with")
    return previous.version


def judge_rollback(
    config: ModelConfig, y: np.ndarray, champion_scores: np.ndarray, previous_scores: np.ndarray
) -> tuple[bool, str, dict[str, Any]]:
    """The gate, asked whether it would promote the previous champion over the current one."""
    strict = config.model_copy(
        update={"gate": config.gate.model_copy(update={"confidence": config.monitor.auto_rollback_confidence})}
    )
    previous_metrics = compute_metrics(config.task, y, previous_scores)
    champion_metrics = compute_metrics(config.task, y, champion_scores)
    decision = judge(strict, y, previous_scores, champion_scores, previous_metrics, champion_metrics)
    return decision.promote, decision.reason, decision.to_dict()


def roll_back_if_worse(
    ctx: StepContext,
    versions: tuple[str, str],
    y: np.ndarray,
    scores: tuple[np.ndarray, np.ndarray],
    window: Window,
) -> RolledBack:
    """Roll back from `versions` (champion, previous champion) when the previous champion is
    significantly better on the matured rows of `window` (`scores`: champion's, previous'), else
    raise NoRollback with the gate's reason."""
    champion, previous = versions
    better, reason, figures = judge_rollback(ctx.config, y, *scores)
    said = f"previous_champion version {previous} vs champion version {champion} on {len(y)} matured rows "
    said += f"({window.start.isoformat()} .. {window.end.isoformat()}): {reason}"
    if not better:
        raise NoRollback(f"model {ctx.config.name!r}: no automatic rollback: {said}")
    request = RollbackRequest(
        to_version=previous,
        reason=f"automatic rollback: {said}",
        action=PromotionAction.AUTO_ROLLBACK,
        figures={**figures, "rows": len(y), "matured_window": window.to_dict()},
        expected_from=champion,
        actor=SCHEDULER,
    )
    return roll_back(ctx, request)
