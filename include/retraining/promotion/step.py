"""The retrain's promote step under the model's promotion lock: repair a lost move, then apply the
gate's decision through the shared move path (`champion_moves`), log row first.

The row is `promote` by the scheduler, or `approve` by the approver when the run waited for one
(`gate.approval: required`); a manual trigger's user is the actor of its promotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from include.retraining.promotion.baseline import promotion_lock, refusal
from include.retraining.promotion.moves import Reconciled, Reconciliation, move_champion, reconcile
from include.retraining.retrain.contracts import Evaluated, Promotion, PromotionOutcome
from include.retraining.runs.context import StepContext
from include.retraining.tables.promotions import PromotionAction, PromotionRecord
from include.retraining.tracking.registry import COMPARED_WITH_TAG, DECIDED_BY_TAG, DECISION_TAG, REASON_TAG
from include.retraining.tracking.tracker import MAX_TAG_CHARS


@dataclass(frozen=True)
class Applied:
    """What the locked step did: the promotion (None when it did not promote), why a passing gate
    was refused, and what reconcile found before the decision was applied."""

    promotion: Promotion | None
    refused: str | None
    reconciled: Reconciliation

    @property
    def repaired(self) -> bool:
        return self.reconciled.outcome is Reconciled.COMPLETED


def decision_tags(ctx: StepContext, evaluated: Evaluated, action: str, reason: str) -> dict[str, str]:
    """The version tags of the gate's decision (the promotion log holds the same, for every move)."""
    return {
        DECISION_TAG: action,
        REASON_TAG: reason[:MAX_TAG_CHARS],
        DECIDED_BY_TAG: ctx.run_url,
        COMPARED_WITH_TAG: evaluated.champion_version or "",
    }


def promotion_record(ctx: StepContext, evaluated: Evaluated, version: str) -> PromotionRecord:
    approver = ctx.run.approved_by
    return PromotionRecord(
        model=ctx.config.name,
        to_version=version,
        action=PromotionAction.APPROVE if approver else PromotionAction.PROMOTE,
        reason=evaluated.reason,
        from_version=evaluated.champion_version,
        figures=evaluated.figures(),
        actor=approver or ctx.run.actor,
        run_url=ctx.run_url,
    )


def apply_decision(
    ctx: StepContext, evaluated: Evaluated, version: str, window_end: datetime, tags: dict[str, str]
) -> Applied:
    """Reconcile, then move `champion` to `version` if the gate passed and compare-and-set allows."""
    registry = ctx.registry
    with promotion_lock(ctx.settings.artifact_root, ctx.config.name):
        reconciled = reconcile(ctx.warehouse_url, registry, ctx.config.name)
        if not evaluated.promote:
            return Applied(None, None, reconciled)
        refused = refusal(registry.champion(), evaluated.champion_version, version, window_end)
        if refused is not None:
            return Applied(None, refused, reconciled)
        previous = move_champion(ctx.warehouse_url, registry, promotion_record(ctx, evaluated, version), tags)
    return Applied(Promotion(PromotionOutcome.PROMOTED, version, evaluated.reason, previous), None, reconciled)
