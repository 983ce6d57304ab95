"""Builders the drift tests share: the trigger policy's evidence of a window written by hand, and
the one decision function called as the monitor calls it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from include.retraining.config import MonitorConfig, TriggerConfig
from include.retraining.drift import (
    NO_SEASONAL,
    ColumnEvidence,
    DriftDecision,
    DriftEvidence,
    History,
    SeasonalEvidence,
    WindowRecord,
    decide,
)

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
# The champion's sensitivity to each column (sums to 1).
IMPORTANCE = {"a": 0.45, "b": 0.35, "c": 0.1, "d": 0.05, "e": 0.05}


def evidence_of(
    drifted: dict[str, float],
    n_current: int = 5000,
    version: str = "3",
    seasonal: SeasonalEvidence = NO_SEASONAL,
) -> DriftEvidence:
    """Columns a..e; those in `drifted` significant (q 0) with that effect, the rest noise."""
    columns = {
        name: ColumnEvidence(
            name,
            0.0 if name in drifted else 0.5,
            0.0 if name in drifted else 0.9,
            drifted.get(name, 0.01),
            share,
            name in drifted,
        )
        for name, share in IMPORTANCE.items()
    }
    return DriftEvidence(version, 20_000, n_current, columns, seasonal)


def decide_on(
    found: DriftEvidence,
    records: Sequence[WindowRecord] = (),
    *,
    drop: float | None = None,
    psi: float | None = 0.01,
    monitor: MonitorConfig | None = None,
    trigger: TriggerConfig | None = None,
    now: datetime = NOW,
    last_trigger_at: datetime | None = None,
    latest_end: datetime | None = None,
    retrain_running: bool = False,
) -> DriftDecision:
    """`drift.decide` with the model's history as the monitor reads it (`History`)."""
    return decide(
        found,
        prediction_psi=psi,
        performance_drop=drop,
        monitor=monitor or MonitorConfig(),
        trigger=trigger or TriggerConfig(),
        history=History(tuple(records), last_trigger_at, latest_end),
        now=now,
        retrain_running=retrain_running,
    )
