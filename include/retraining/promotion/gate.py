"""The promotion gate: a pure decision from the challenger's metrics and the paired intervals.

The rule, with where each default comes from, is in docs/decisions.md ("The promotion gate").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from include.retraining.config import LOWER_IS_BETTER, ModelConfig
from include.retraining.learning import ImprovementInterval, LeakageSuspect, leakage_reason, paired_comparison
from include.retraining.promotion.evidence import PooledEvidence


@dataclass(frozen=True)
class GuardrailCheck:
    """Non-inferiority on one secondary metric: the challenger may be worse by at most `margin`."""

    metric: str
    margin: float
    interval: ImprovementInterval

    @property
    def holds(self) -> bool:
        # A NaN bound compares False: missing evidence never counts as non-inferior.
        return self.interval.lower > -self.margin

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "margin": self.margin, "holds": self.holds, "interval": self.interval.to_dict()}


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    challenger_value: float
    champion_value: float | None
    interval: ImprovementInterval | None
    guardrails: tuple[GuardrailCheck, ...] = ()
    # With pooled evidence: the current holdout's own interval, beside the pooled `interval`.
    own_interval: ImprovementInterval | None = None
    # With pooled evidence: how many rows of which windows (PooledEvidence.summary()).
    pooled: dict[str, object] | None = None
    # What looked leaked (gate.leakage): any suspect blocks, whatever the comparison said.
    leakage: tuple[LeakageSuspect, ...] = ()

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["interval"] = self.interval.to_dict() if self.interval else None
        data["own_interval"] = self.own_interval.to_dict() if self.own_interval else None
        data["guardrails"] = [check.to_dict() for check in self.guardrails]
        data["leakage"] = [suspect.to_dict() for suspect in self.leakage]
        return data


def meets_threshold(value: float, threshold: float | None, higher_is_better: bool) -> bool:
    if threshold is None:
        return True
    return value >= threshold if higher_is_better else value <= threshold


def decide_promotion(
    *,
    metric: str,
    higher_is_better: bool,
    threshold: float | None,
    min_improvement: float,
    challenger_value: float,
    champion_value: float | None,
    interval: ImprovementInterval | None,
    guardrails: tuple[GuardrailCheck, ...] = (),
    own_interval: ImprovementInterval | None = None,
) -> GateDecision:
    """Promote when the threshold holds, the improvement's lower bound clears min_improvement and
    every guardrail holds. A NaN anywhere blocks.

    With no champion the threshold alone decides. `interval` is None only when there is no
    champion to compare with. When `interval` pools earlier holdouts, `own_interval` is the current
    holdout's alone: its estimate must not be below zero, so the latest challenger of a recipe
    that is better on average is not itself the worse one.
    """

    def decision(promote: bool, reason: str) -> GateDecision:
        return GateDecision(
            promote, reason, metric, challenger_value, champion_value, interval, guardrails, own_interval
        )

    bound = "floor" if higher_is_better else "ceiling"
    if not math.isfinite(challenger_value):
        return decision(False, f"{metric} of the challenger is {challenger_value}: nothing to promote on")
    if not meets_threshold(challenger_value, threshold, higher_is_better):
        return decision(False, f"{metric} {challenger_value:.4f} misses the {bound} {threshold:.4f}")
    if interval is None:
        met = f" meets the {bound} {threshold:.4f}" if threshold is not None else " (no gate.threshold set)"
        return decision(True, f"first model: {metric} {challenger_value:.4f}{met}")
    summary = _summary(metric, challenger_value, champion_value, interval, own_interval)
    if not interval.lower > min_improvement:  # also False for a NaN bound
        return decision(False, f"{summary} does not clear min_improvement {min_improvement:+.4f}")
    if own_interval is not None and not own_interval.difference >= 0:
        return decision(False, f"{summary}: the pooled bound clears, but this challenger is below the champion")
    failed = [check for check in guardrails if not check.holds]
    if failed:
        return decision(False, f"{summary} clears min_improvement, but {_broken(failed)}")
    held = f"; guardrails hold ({', '.join(c.metric for c in guardrails)})" if guardrails else ""
    return decision(True, f"{summary} clears min_improvement {min_improvement:+.4f}{held}")


def _summary(
    metric: str,
    challenger_value: float,
    champion_value: float | None,
    interval: ImprovementInterval,
    own_interval: ImprovementInterval | None,
) -> str:
    summary = (
        f"{metric} {challenger_value:.4f} vs champion {champion_value:.4f}: improvement "
        f"{interval.difference:+.4f}, {interval.confidence:.1%} lower bound {interval.lower:+.4f}"
    )
    if own_interval is None:
        return summary
    pooled = f"{interval.rows:,} rows of consecutive holdouts pooled (this one: {own_interval.rows:,})"
    return f"{summary} on {pooled}; this holdout alone {own_interval.difference:+.4f}"


def _broken(failed: list[GuardrailCheck]) -> str:
    return "; ".join(
        f"guardrail {c.metric}: {c.interval.confidence:.1%} bound {c.interval.lower:+.4f} is worse than "
        f"the margin -{c.margin:.4f}"
        for c in failed
    )


def judge(
    config: ModelConfig,
    y_true: np.ndarray,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray | None,
    challenger_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    pooled: PooledEvidence | None = None,
    leakage: tuple[tuple[LeakageSuspect, ...], dict[str, float]] = ((), {}),
) -> GateDecision:
    """The gate for one model on one holdout: the intervals it needs, then the decision.

    With `pooled` evidence of more than one window (`gate.pooled_windows`), every interval is
    measured on the pooled rows and the current holdout's own estimate must not be below zero.
    `leakage` is what the leakage guard found (its suspects, and every feature's own score): any
    suspect blocks with the reason naming it and the fix, the figures kept for the alert.
    """
    gate, metric = config.gate, config.primary_metric
    interval, checks, own = None, (), None
    if champion_scores is not None:
        rows = (y_true, challenger_scores, champion_scores)
        if pooled is not None and pooled.windows > 1:
            own = gate_interval(config, metric, *rows)
            rows = (pooled.y, pooled.challenger, pooled.champion)
        interval = gate_interval(config, metric, *rows)
        checks = tuple(
            GuardrailCheck(name, margin, gate_interval(config, name, *rows)) for name, margin in gate.guardrails.items()
        )
    decision = decide_promotion(
        metric=metric,
        higher_is_better=metric not in LOWER_IS_BETTER,
        threshold=gate.threshold,
        min_improvement=gate.min_improvement,
        challenger_value=challenger_metrics[metric],
        champion_value=champion_metrics[metric] if champion_metrics else None,
        interval=interval,
        guardrails=checks,
        own_interval=own,
    )
    decision = replace(decision, pooled=pooled.summary() if own is not None else None)
    suspects, scores = leakage
    if suspects:
        return replace(decision, promote=False, reason=leakage_reason(suspects, scores), leakage=suspects)
    return decision


def gate_interval(
    config: ModelConfig, metric: str, y: np.ndarray, challenger: np.ndarray, champion: np.ndarray
) -> ImprovementInterval:
    """The gate's paired interval of `challenger` minus `champion` in `metric`, at the model's
    `gate.confidence` (also what verifies a promotion on later rows)."""
    gate = config.gate
    return paired_comparison(
        metric,
        y,
        challenger,
        champion,
        confidence=gate.confidence,
        samples=gate.bootstrap_samples,
        seed=config.training.seed,
    )
