"""The promotion gate: a pure decision from the challenger's metrics and the paired intervals.

The rule, with where each default comes from, is in docs/decisions.md ("The promotion gate").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from include.retraining.config import LOWER_IS_BETTER, ModelConfig
from include.retraining.evaluation import ImprovementInterval, paired_comparison


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

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["interval"] = self.interval.to_dict() if self.interval else None
        data["guardrails"] = [check.to_dict() for check in self.guardrails]
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
) -> GateDecision:
    """Promote when the threshold holds, the improvement's lower bound clears min_improvement and
    every guardrail holds. A NaN anywhere blocks.

    With no champion the threshold alone decides. `interval` is None only when there is no
    champion to compare with.
    """

    def decision(promote: bool, reason: str) -> GateDecision:
        return GateDecision(promote, reason, metric, challenger_value, champion_value, interval, guardrails)

    bound = "floor" if higher_is_better else "ceiling"
    if not math.isfinite(challenger_value):
        return decision(False, f"{metric} of the challenger is {challenger_value}: nothing to promote on")
    if not meets_threshold(challenger_value, threshold, higher_is_better):
        return decision(False, f"{metric} {challenger_value:.4f} misses the {bound} {threshold:.4f}")
    if interval is None:
        met = f" meets the {bound} {threshold:.4f}" if threshold is not None else " (no gate.threshold set)"
        return decision(True, f"first model: {metric} {challenger_value:.4f}{met}")
    summary = (
        f"{metric} {challenger_value:.4f} vs champion {champion_value:.4f}: improvement "
        f"{interval.difference:+.4f}, {interval.confidence:.0%} lower bound {interval.lower:+.4f}"
    )
    if not interval.lower > min_improvement:  # also False for a NaN bound
        return decision(False, f"{summary} does not clear min_improvement {min_improvement:+.4f}")
    failed = [check for check in guardrails if not check.holds]
    if failed:
        broken = "; ".join(
            f"guardrail {c.metric}: {c.interval.confidence:.0%} bound {c.interval.lower:+.4f} is worse than "
            f"the margin -{c.margin:.4f}"
            for c in failed
        )
        return decision(False, f"{summary} clears min_improvement, but {broken}")
    held = f"; guardrails hold ({', '.join(c.metric for c in guardrails)})" if guardrails else ""
    return decision(True, f"{summary} clears min_improvement {min_improvement:+.4f}{held}")


def judge(
    config: ModelConfig,
    y_true: np.ndarray,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray | None,
    challenger_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
) -> GateDecision:
    """The gate for one model on one holdout: the intervals it needs, then the decision."""
    gate, metric = config.gate, config.primary_metric
    interval, checks = None, ()
    if champion_scores is not None:

        def compare(name: str) -> ImprovementInterval:
            return paired_comparison(
                name,
                y_true,
                challenger_scores,
                champion_scores,
                confidence=gate.confidence,
                samples=gate.bootstrap_samples,
                seed=config.training.seed,
            )

        interval = compare(metric)
        checks = tuple(GuardrailCheck(name, margin, compare(name)) for name, margin in gate.guardrails.items())
    return decide_promotion(
        metric=metric,
        higher_is_better=metric not in LOWER_IS_BETTER,
        threshold=gate.threshold,
        min_improvement=gate.min_improvement,
        challenger_value=challenger_metrics[metric],
        champion_value=champion_metrics[metric] if champion_metrics else None,
        interval=interval,
        guardrails=checks,
    )
