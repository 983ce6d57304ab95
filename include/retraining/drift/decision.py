"""The retrain decision of a monitoring run: the monitoring twin of the promotion gate.

`decide` turns the trigger policy's drift evidence, the prediction PSI and the matured-label
performance drop into a `DriftDecision`: the reasons to retrain (the policy's, `policy.reasons`)
and what stops the retrain anyway (the blockers: the policy's persistence and loop guard, the
cooldown, a retrain already running, a later window already monitored). Everything it knows of
earlier runs comes in as one `History`, read once. Nothing here reads the clock: the monitoring
run's logical time comes in as `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from include.retraining.config import MonitorConfig, TriggerConfig
from include.retraining.drift.evidence import DriftEvidence
from include.retraining.drift.policy import (
    Hold,
    HoldKind,
    MonitorOutcome,
    WindowRecord,
    earlier_runs,
    loop_guard,
    persistence,
    reasons,
    records_from_rows,
)


@dataclass(frozen=True)
class History:
    """What the decision reads of the earlier monitoring runs: their records (persistence, the
    loop guard), the latest emitted trigger before this run (the cooldown) and the newest window
    monitored at all (a later one makes this run's event stale)."""

    records: tuple[WindowRecord, ...] = ()
    last_trigger_at: datetime | None = None
    latest_end: datetime | None = None

    @classmethod
    def from_rows(
        cls, rows: Sequence[dict[str, Any]], last_trigger_at: datetime | None, latest_end: datetime | None
    ) -> History:
        """From `model_monitoring` rows (oldest first) and the two moments read with them."""
        return cls(records_from_rows(rows), last_trigger_at, latest_end)


@dataclass(frozen=True)
class DriftDecision:
    retrain: bool
    drift_detected: bool
    reasons: list[str]
    blocked_by: str | None
    notes: list[str] = field(default_factory=list)
    # What the drift consists of (drifted columns, "performance", "prediction"): the loop guard
    # compares it with the drift earlier triggers were for.
    signature: list[str] = field(default_factory=list)
    # The blockers that hold back the retrain the evidence warrants (cooldown, loop guard, a running
    # retrain), each with when it lifts; `held_back` when nothing else stopped it (persistence, a
    # past window): the held-back drift alert is raised for exactly these runs.
    holds: list[Hold] = field(default_factory=list)
    held_back: bool = False

    @property
    def outcome(self) -> MonitorOutcome:
        if self.retrain:
            return MonitorOutcome.RETRAIN
        return MonitorOutcome.BLOCKED if self.drift_detected else MonitorOutcome.NONE

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": [hold.to_dict() for hold in self.holds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftDecision:
        return cls(
            retrain=bool(data["retrain"]),
            drift_detected=bool(data["drift_detected"]),
            reasons=list(data["reasons"]),
            blocked_by=data.get("blocked_by"),
            notes=list(data.get("notes", [])),
            signature=list(data.get("signature", [])),
            holds=[Hold.from_dict(hold) for hold in data.get("holds", [])],
            held_back=bool(data.get("held_back", False)),
        )


def decide(
    evidence: DriftEvidence,
    *,
    prediction_psi: float | None,
    performance_drop: float | None,
    monitor: MonitorConfig,
    trigger: TriggerConfig,
    history: History,
    now: datetime,
    retrain_running: bool = False,
) -> DriftDecision:
    """Whether this monitoring run should emit the drift event that triggers a retrain.

    `performance_drop` is the primary metric's loss against its reference, positive = worse
    (None: no matured labels). A current window with fewer than `monitor.min_rows` rows is not
    judged for data or prediction drift. A declared critical feature that is not among the
    monitored columns (the champion was not trained on it) is noted, not compared.
    """
    unknown = [c for c in monitor.critical_features if c not in evidence.columns]
    judged, monitor, notes = _judged(evidence, monitor, performance_drop)
    psi = prediction_psi if judged is evidence else None
    found = reasons(judged, prediction_psi=psi, performance_drop=performance_drop, monitor=monitor, trigger=trigger)
    notes += found.notes + ([f"critical features not compared: {', '.join(unknown)}"] if unknown else [])
    holds, stopped = [], []
    if found.reasons:
        holds_up = performance_drop is not None and performance_drop <= monitor.performance_drop
        holds, stopped = _blockers(judged, found.signature, monitor, trigger, history, now, retrain_running, holds_up)
    return DriftDecision(
        retrain=bool(found.reasons) and not stopped,
        drift_detected=bool(found.reasons),
        reasons=found.reasons,
        blocked_by="; ".join(stopped) or None,
        notes=notes,
        signature=sorted(found.signature),
        holds=holds,
        held_back=bool(holds) and len(holds) == len(stopped),
    )


def _blockers(
    judged: DriftEvidence,
    signature: frozenset[str],
    monitor: MonitorConfig,
    trigger: TriggerConfig,
    history: History,
    now: datetime,
    retrain_running: bool,
    performance_holds: bool,
) -> tuple[list[Hold], list[str]]:
    """What stops the retrain the reasons ask for, in the order `blocked_by` names them: a running
    retrain and the cooldown, a past window, persistence, the loop guard; and which are holds."""
    earlier = earlier_runs(history.records, now)
    holds = _run_holds(monitor, history, now, retrain_running)
    stopped = [hold.text for hold in holds]
    stopped += [text for text in (_past_window(history, now), persistence(earlier, trigger)) if text]
    guard = loop_guard(
        earlier,
        now=now,
        champion_version=judged.champion_version,
        signature=signature,
        evidence=judged,
        trigger=trigger,
        performance_holds=performance_holds,
    )
    return (holds + [guard], stopped + [guard.text]) if guard else (holds, stopped)


def _judged(
    evidence: DriftEvidence, monitor: MonitorConfig, performance_drop: float | None
) -> tuple[DriftEvidence, MonitorConfig, list[str]]:
    """The evidence the policy judges (none of a window under `min_rows`), the monitor settings
    with the critical features it can compare, and the notes on what was not evaluated."""
    notes = [] if performance_drop is not None else ["performance not evaluated: no matured labels"]
    comparable = [c for c in monitor.critical_features if c in evidence.columns]
    if comparable != monitor.critical_features:
        monitor = monitor.model_copy(update={"critical_features": comparable})
    if evidence.n_current >= monitor.min_rows:
        return evidence, monitor, notes
    notes.append(
        f"data and prediction drift not evaluated: current window has {evidence.n_current} rows "
        f"(< min_rows {monitor.min_rows})"
    )
    return DriftEvidence(evidence.champion_version, evidence.n_reference, evidence.n_current, {}), monitor, notes


def _run_holds(monitor: MonitorConfig, history: History, now: datetime, retrain_running: bool) -> list[Hold]:
    """What holds a retrain back whatever the evidence: one already running, the cooldown."""
    found = [Hold(HoldKind.RETRAIN_RUNNING, "retrain already running", lifts="once the running retrain finishes")]
    found = found if retrain_running else []
    last = history.last_trigger_at
    if last is None:
        return found
    if (last.tzinfo is None) != (now.tzinfo is None):
        raise ValueError("last_trigger_at and now must both be timezone-aware (or both naive)")
    ends = last + timedelta(hours=monitor.cooldown_hours)
    if now < last:
        text = (
            f"cooldown: last drift-triggered retrain at {last.isoformat()} is after "
            f"this run's logical time {now.isoformat()}"
        )
        found.append(Hold(HoldKind.COOLDOWN, text, ends))
    elif now < ends:
        text = (
            f"cooldown: last drift-triggered retrain at {last.isoformat()} "
            f"(< {monitor.cooldown_hours:g}h before {now.isoformat()})"
        )
        found.append(Hold(HoldKind.COOLDOWN, text, ends))
    return found


def _past_window(history: History, now: datetime) -> str | None:
    """A later window was monitored already: this run's event would retrain on stale data."""
    later = history.latest_end
    if later is None or later <= now:
        return None
    return (
        f"past window: monitoring already ran for a later window (ending {later.isoformat()}), "
        f"so a drift event for the window ending {now.isoformat()} would retrain on stale data"
    )
