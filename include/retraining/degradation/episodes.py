"""The episodes of the degradation alerts, read from the `model_monitoring` rows of the runs
before this window, so no state of its own is kept:
- the metric's episode is the unbroken run of windows whose measured value is beyond the bound
  (judged against the bound configured now); a window without matured labels, or measured in
  another metric, neither continues nor ends it; a value back inside the bound ends it;
- the drift's episode is the unbroken run of windows with drift detected against the same
  champion; a window without drift, or a new champion, ends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.retraining.config import AlertLimit
from include.retraining.drift import DriftDecision


@dataclass(frozen=True)
class Episode:
    """An episode this run belongs to: the window end of its first run (this run's when it starts here)."""

    start: datetime
    new: bool


def limit_episode(
    rows: Sequence[dict[str, Any]], now: datetime, limit: AlertLimit, value: float | None
) -> Episode | None:
    """The episode of the metric beyond `limit` this run's `value` is part of; None when it is not
    beyond (or not measured). `rows`: the earlier `model_monitoring` rows, oldest first."""
    if not limit.crossed(value):
        return None
    start = now
    for row in reversed([r for r in rows if r["window_end"] < now]):
        measured = row.get("metric") == limit.metric and _finite(row.get("metric_current"))
        if not measured:
            continue
        if not limit.crossed(float(row["metric_current"])):
            break
        start = row["window_end"]
    return Episode(start, start == now)


def held_episode(
    rows: Sequence[dict[str, Any]], now: datetime, champion_version: str, decision: DriftDecision
) -> Episode | None:
    """The drift episode of a run whose retrain is held back; None when it is not held back."""
    if not decision.held_back:
        return None
    start = now
    for row in reversed([r for r in rows if r["window_end"] < now]):
        if not row["drift_detected"] or str(row["champion_version"]) != champion_version:
            break
        start = row["window_end"]
    return Episode(start, start == now)


def next_allowed(decision: DriftDecision) -> str:
    """When the held-back retrain may run next, for a person: a moment, a condition, or both."""
    moments = [hold.until for hold in decision.holds if hold.until is not None]
    conditions = [hold.lifts for hold in decision.holds if hold.until is None]
    at = f"from {max(moments).isoformat()} (the first monitoring run after it)" if moments else ""
    return ", and ".join(filter(None, [at, *conditions])) + ", if the drift persists"


def _finite(value: Any) -> bool:
    return value is not None and value == value  # NaN: a row from before matured labels
