"""The promotion gate: a pure decision from the challenger's metric and the improvement interval."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from include.retraining.evaluation import ImprovementInterval


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    challenger_value: float
    champion_value: float | None
    interval: ImprovementInterval | None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["interval"] = self.interval.to_dict() if self.interval else None
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
) -> GateDecision:
    """Promote when the threshold holds and the improvement's lower bound clears min_improvement.

    With no champion the threshold alone decides. `interval` is None only when there is no
    champion to compare with.
    """

    def decision(promote: bool, reason: str) -> GateDecision:
        return GateDecision(promote, reason, metric, challenger_value, champion_value, interval)

    bound = "floor" if higher_is_better else "ceiling"
    if not meets_threshold(challenger_value, threshold, higher_is_better):
        return decision(False, f"{metric} {challenger_value:.4f} misses the {bound} {threshold:.4f}")
    if interval is None:
        met = f" meets the {bound} {threshold:.4f}" if threshold is not None else ""
        return decision(True, f"first model: {metric} {challenger_value:.4f}{met}")
    summary = (
        f"{metric} {challenger_value:.4f} vs champion {champion_value:.4f}: improvement "
        f"{interval.difference:+.4f}, {interval.confidence:.0%} lower bound {interval.lower:+.4f}"
    )
    if interval.lower > min_improvement:
        return decision(True, f"{summary} clears min_improvement {min_improvement:+.4f}")
    return decision(False, f"{summary} does not clear min_improvement {min_improvement:+.4f}")
