"""Automatic rollback (`monitor.auto_rollback: true`): when the champion does significantly worse
on matured labels than `previous_champion` does on the same rows, roll back to it.

Significantly worse is the promotion gate's own rule (`promotion.judge`: the paired one-sided interval,
the threshold, min_improvement and the guardrails) asked the other way round: would the gate
promote the previous champion over the current one on these rows? At confidence
`monitor.auto_rollback_confidence` (default 0.99, stricter than the gate's: the monitor tests
every day). Never twice in a row: after a rollback, nothing rolls back automatically until a
new promotion. And at most one automatic rollback per `monitor.auto_rollback_hold_days` (28): when
the gate's holdout and the matured labels disagree systematically, each retrain would promote and
the monitor roll back; within the hold a rollback the rule asks for is held back with an alert
(`RollbackHeld`), and a person decides. So automation returns `champion` to an earlier version at
most once per hold: promotions only ever move to a newly trained version. The move itself is
`roll_back` (manual.py), action `auto_rollback`. The monitor reads and scores the rows
(`monitor.auto_rollback`, monitor/rollback.py); this module decides and moves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from include.retraining.alerts import Alert
from include.retraining.common import Window
from include.retraining.config import ModelConfig
from include.retraining.learning import compute_metrics
from include.retraining.promotion import judge, latest_move
from include.retraining.rollback.manual import RollbackRequest, RolledBack, roll_back
from include.retraining.runs import StepContext
from include.retraining.tables import SCHEDULER, PromotionAction, PromotionRecord, history


class NoRollback(Exception):
    """No automatic rollback this time; the message says why."""


class RollbackHeld(NoRollback):
    """The rule asks for a rollback, but another automatic rollback moved `champion` within
    `monitor.auto_rollback_hold_days`: held back; `alert` asks a person to decide."""

    def __init__(self, message: str, alert: Alert) -> None:
        super().__init__(message)
        self.alert = alert


# How far back the hold looks in the log: weekly retrains fill 28 days with a handful of rows.
_HOLD_LOOKBACK = 200


def recent_auto_rollback(ctx: StepContext) -> PromotionRecord | None:
    """The newest automatic rollback logged within `monitor.auto_rollback_hold_days` of this run's
    window end; a row stamped after the window end (a backfilled monitor run) counts as within."""
    since = ctx.run.window_end - timedelta(days=ctx.config.monitor.auto_rollback_hold_days)
    rows = history(ctx.pipeline_db, ctx.config.name, _HOLD_LOOKBACK)
    return next((r for r in rows if r.action is PromotionAction.AUTO_ROLLBACK and r.at and r.at >= since), None)


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


def rolled_back_by_this_run(ctx: StepContext) -> RolledBack | None:
    """The automatic rollback this run made, when this is a retry of that run (the newest move is
    its row), through `roll_back`, which completes an alias move the crash lost and moves nothing
    more: the task announces it again, and the outbox posts the alert once."""
    newest = latest_move(ctx.pipeline_db, ctx.config.name)
    if newest is None or newest.action is not PromotionAction.AUTO_ROLLBACK or newest.run_url != ctx.run_url:
        return None
    request = RollbackRequest(
        to_version=newest.to_version, reason=newest.reason, action=PromotionAction.AUTO_ROLLBACK, actor=SCHEDULER
    )
    return roll_back(ctx, request)


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
    held = recent_auto_rollback(ctx)
    if held is not None:
        alert = held_alert(ctx, champion, held, said)
        raise RollbackHeld(f"model {ctx.config.name!r}: automatic rollback held back: {alert.lines[1]}", alert)
    request = RollbackRequest(
        to_version=previous,
        reason=f"automatic rollback: {said}",
        action=PromotionAction.AUTO_ROLLBACK,
        figures={**figures, "rows": len(y), "matured_window": window.to_dict()},
        expected_from=champion,
        actor=SCHEDULER,
    )
    return roll_back(ctx, request)


def held_alert(ctx: StepContext, champion: str, held: PromotionRecord, said: str) -> Alert:
    """The alert of a rollback the rule asked for but the hold kept back: once per champion and
    per the automatic rollback that holds it."""
    model, days = ctx.config.name, ctx.config.monitor.auto_rollback_hold_days
    when = held.at.isoformat() if held.at else "recently"
    lines = [
        f"The automatic rollback's rule asks to roll back: {said}.",
        f"Held back: an automatic rollback already moved champion on {when} (promotion log row {held.id}, "
        f"{held.from_version} -> {held.to_version}), and monitor.auto_rollback_hold_days={days} allows one per "
        f"{days} days, so champion does not flip back and forth.",
        "The gate's holdout and the matured labels disagree: decide by hand (rollback_"
        f"{model} with a reason), and look at why the retrained models win the holdout but lose on matured labels.",
    ]
    figures = {"champion_version": champion, "held_by_log_id": held.id, "hold_days": days}
    return Alert(
        "auto_rollback_held",
        model,
        f"{model}: automatic rollback of champion version {champion} held back",
        lines,
        {"Airflow run": ctx.run_url},
        figures,
        f"{model}/auto_rollback_held/{held.id}/{champion}",
    )
