"""The retrain decision of a monitoring run: the monitoring twin of `gate.py`.

`decide` turns a drift summary, the prediction PSI and the matured-label performance drop into a
`DriftDecision`: which thresholds of the model's `MonitorConfig` were crossed (the reasons) and
what stops the retrain anyway (the blockers: cooldown, a retrain already running, a later window
already monitored). Nothing here reads the clock: the monitoring run's logical time comes in as
`now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from include.retraining.config.model import MonitorConfig
from include.retraining.config.trigger import TriggerConfig
from include.retraining.drift import policy as trigger_policy
from include.retraining.drift.evidence import DriftEvidence
from include.retraining.drift.summary import DriftInputError, DriftSummary


class MonitorOutcome(StrEnum):
    """What a monitoring run decided, as recorded in `model_monitoring.decision`.

    A retrain decision is recorded as `retrain_pending` by `report` and becomes `retrain` only
    once `trigger` emitted the drift event, so the cooldown counts only emitted triggers.
    """

    RETRAIN = "retrain"
    RETRAIN_PENDING = "retrain_pending"
    BLOCKED = "blocked"
    NONE = "none"


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

    @property
    def outcome(self) -> MonitorOutcome:
        if self.retrain:
            return MonitorOutcome.RETRAIN
        return MonitorOutcome.BLOCKED if self.drift_detected else MonitorOutcome.NONE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftDecision:
        return cls(
            retrain=bool(data["retrain"]),
            drift_detected=bool(data["drift_detected"]),
            reasons=list(data["reasons"]),
            blocked_by=data.get("blocked_by"),
            notes=list(data.get("notes", [])),
            signature=list(data.get("signature", [])),
        )


def decision_label(decision: dict[str, Any]) -> str:
    """The outcome of a decision read back from XCom: 'retrain', 'blocked' or 'none'."""
    return DriftDecision.from_dict(decision).outcome.value


def decide(
    summary: DriftSummary | None,
    *,
    prediction_psi: float | None,
    performance_drop: float | None,
    config: MonitorConfig,
    last_trigger_at: datetime | None,
    now: datetime,
    retrain_running: bool = False,
    higher_is_better: bool = True,
    later_window_end: datetime | None = None,
    evidence: DriftEvidence | None = None,
    history: Sequence[trigger_policy.WindowRecord] = (),
    trigger: TriggerConfig | None = None,
) -> DriftDecision:
    """Whether this monitoring run should emit the drift event that triggers a retrain.

    `performance_drop` is the primary metric's loss against its reference, positive = worse,
    already signed by the caller (None: no matured labels); `higher_is_better` only words the
    reason. A current window with fewer than `min_rows` rows is not judged for data or
    prediction drift. Cooldown, an already running retrain and a later monitored window
    (`later_window_end`: this run is a backfill or a rerun of a past window, whose event would
    retrain on stale data) block the retrain but still report the drift.

    With `evidence` (the trigger policy's per-column tests, `drift_evidence.py`) the data-drift
    reasons come from the policy (`trigger_policy.py`: performance first, importance-weighted
    drift) instead of Evidently's per-column verdicts, and persistence and the loop guard, read
    from `history` (earlier runs), block as well.
    """
    if evidence is None:
        reasons, notes, signature = _legacy_reasons(summary, prediction_psi, performance_drop, config, higher_is_better)
    else:
        reasons, notes, signature = _policy_reasons(evidence, prediction_psi, performance_drop, config, trigger)
    drift_detected = bool(reasons)
    blockers = []
    if drift_detected:
        blockers = _blockers(config, last_trigger_at, now, retrain_running) + _stale(later_window_end, now)
        if evidence is not None:
            holds = performance_drop is not None and performance_drop <= config.performance_drop
            blockers += _policy_blockers(evidence, history, now, signature, trigger, holds)
    return DriftDecision(
        retrain=drift_detected and not blockers,
        drift_detected=drift_detected,
        reasons=reasons,
        blocked_by="; ".join(blockers) or None,
        notes=notes,
        signature=sorted(signature),
    )


def _policy_blockers(
    evidence: DriftEvidence,
    history: Sequence[trigger_policy.WindowRecord],
    now: datetime,
    signature: set[str],
    trigger: TriggerConfig | None,
    performance_holds: bool,
) -> list[str]:
    return trigger_policy.blockers(
        history,
        now=now,
        champion_version=evidence.champion_version,
        signature=frozenset(signature),
        evidence=evidence,
        trigger=trigger or TriggerConfig(),
        performance_holds=performance_holds,
    )


def _legacy_reasons(
    summary: DriftSummary | None,
    prediction_psi: float | None,
    performance_drop: float | None,
    config: MonitorConfig,
    higher_is_better: bool,
) -> tuple[list[str], list[str], set[str]]:
    reasons, notes, window_ok = _data_drift(summary, config)
    if prediction_psi is not None and window_ok and prediction_psi >= config.prediction_psi:
        reasons.append(f"prediction drift: PSI {prediction_psi:.3f} >= {config.prediction_psi:.3f}")
    if performance_drop is None:
        notes.append("performance not evaluated: no matured labels")
    elif performance_drop > config.performance_drop:
        direction = "fell" if higher_is_better else "rose"
        reasons.append(
            f"performance drift: primary metric {direction} by {performance_drop:.4f} (> {config.performance_drop:.4f})"
        )
    signature = set(summary.drifted_columns) if summary is not None and window_ok else set()
    return reasons, notes, signature


def _policy_reasons(
    evidence: DriftEvidence,
    prediction_psi: float | None,
    performance_drop: float | None,
    config: MonitorConfig,
    trigger: TriggerConfig | None,
) -> tuple[list[str], list[str], set[str]]:
    unknown = sorted(set(config.critical_features) - set(evidence.columns))
    if unknown:
        raise DriftInputError(f"critical features {unknown} are not among the monitored columns")
    notes = [] if performance_drop is not None else ["performance not evaluated: no matured labels"]
    if evidence.n_current < config.min_rows:
        notes.append(
            f"data and prediction drift not evaluated: current window has {evidence.n_current} rows "
            f"(< min_rows {config.min_rows})"
        )
        evidence = DriftEvidence(evidence.champion_version, evidence.n_reference, evidence.n_current, {})
        prediction_psi = None
    found = trigger_policy.reasons(
        evidence,
        prediction_psi=prediction_psi,
        performance_drop=performance_drop,
        monitor=config,
        trigger=trigger or TriggerConfig(),
    )
    return found.reasons, notes + found.notes, set(found.signature)


def _data_drift(summary: DriftSummary | None, config: MonitorConfig) -> tuple[list[str], list[str], bool]:
    """Reasons and notes from the data-drift summary, and whether the window was large enough."""
    if summary is None:
        return [], ["data drift not evaluated: no summary"], True
    if summary.n_current < config.min_rows:
        note = (
            f"data and prediction drift not evaluated: current window has {summary.n_current} rows "
            f"(< min_rows {config.min_rows})"
        )
        return [], [note], False
    return _data_drift_reasons(summary, config), [], True


def _data_drift_reasons(summary: DriftSummary, config: MonitorConfig) -> list[str]:
    unknown = sorted(set(config.critical_features) - set(summary.columns))
    if unknown:
        raise DriftInputError(f"critical features {unknown} are not among the monitored columns")
    reasons = []
    n_drifted, n_total = len(summary.drifted_columns), len(summary.columns)
    if summary.drift_share >= config.drift_share:
        reasons.append(
            f"dataset drift: {n_drifted}/{n_total} features drifted "
            f"({summary.drift_share:.2f} >= {config.drift_share:.2f}): " + ", ".join(summary.drifted_columns)
        )
    critical = [c for c in summary.drifted_columns if c in config.critical_features]
    if critical:
        reasons.append("critical feature drift: " + ", ".join(summary.columns[c].describe() for c in critical))
    return reasons


def _blockers(
    config: MonitorConfig, last_trigger_at: datetime | None, now: datetime, retrain_running: bool
) -> list[str]:
    blockers = []
    if retrain_running:
        blockers.append("retrain already running")
    if last_trigger_at is not None:
        if (last_trigger_at.tzinfo is None) != (now.tzinfo is None):
            raise ValueError("last_trigger_at and now must both be timezone-aware (or both naive)")
        since = now - last_trigger_at
        if since < timedelta(0):
            blockers.append(
                f"cooldown: last drift-triggered retrain at {last_trigger_at.isoformat()} is after "
                f"this run's logical time {now.isoformat()}"
            )
        elif since < timedelta(hours=config.cooldown_hours):
            blockers.append(
                f"cooldown: last drift-triggered retrain at {last_trigger_at.isoformat()} "
                f"(< {config.cooldown_hours:g}h before {now.isoformat()})"
            )
    return blockers


def _stale(later_window_end: datetime | None, now: datetime) -> list[str]:
    if later_window_end is None or later_window_end <= now:
        return []
    return [
        f"past window: monitoring already ran for a later window (ending {later_window_end.isoformat()}), "
        f"so a drift event for the window ending {now.isoformat()} would retrain on stale data"
    ]
