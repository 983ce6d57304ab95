"""When a challenger may replace the champion, and the one room where alias `champion` moves.

The gate (a paired one-sided interval of challenger minus champion on the same holdout, pooled
across retrains against the same champion), what the challenger is compared with, approval by a
person, the canary (a passing version answering a share of traffic until matured labels decide),
and every move of `champion` (`move_champion`: promotion, approval, the canary's promotion and the
rollbacks of the `rollback` package) with the reconciliation of a move that was recorded but not
made, each log row first, under one lock; and, after a promotion, whether it paid off as the gate
promised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.promotion.approval import (
        APPROVE,
        REJECT,
        TIMEOUT_DEFAULT,
        Approval,
        ApprovalDecision,
        approver,
        from_response,
        gate_after,
        links,
        needs_approval,
        record_decline,
        requested_alert,
        self_approval,
        summary,
    )
    from include.retraining.promotion.baseline import (
        Baseline,
        baseline_for,
        champion_unusable_alert,
        fail_closed,
        score_version,
    )
    from include.retraining.promotion.canary import (
        CanaryOutcome,
        CanaryResult,
        NoCanary,
        canary_pairs,
        judge_canary,
        on_canary,
        settle_canary,
        settle_canary_window,
    )
    from include.retraining.promotion.contracts import Evaluated, Promotion, PromotionOutcome
    from include.retraining.promotion.evidence import HoldoutEvidence, PooledEvidence, in_tenure, pool_evidence
    from include.retraining.promotion.gate import GateDecision, GuardrailCheck, decide_promotion, gate_interval, judge
    from include.retraining.promotion.moves import (
        CANARY,
        Applied,
        Reconciled,
        Reconciliation,
        apply_decision,
        decision_tags,
        latest_move,
        move_champion,
        promotion_lock,
        reconcile,
        refusal,
        start_canary,
    )
    from include.retraining.promotion.pooling import current_evidence, pooled_for, store_evidence, tenure_start
    from include.retraining.promotion.verification import (
        HELD,
        REGRESSED,
        SHORT,
        UNPROMISED,
        calibration,
        promise,
        verdict,
    )

__all__, __getattr__, __dir__ = face(__name__)
