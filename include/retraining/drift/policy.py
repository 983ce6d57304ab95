"""The trigger policy: which drift evidence retrains, and when the same evidence may not retrain
again. Pure functions; `decision.decide` calls them, `bench/decisions.py` measures them.

- Performance first: a primary-metric drop on matured labels retrains. Data drift (importance-
  weighted drift, prediction PSI against out-of-sample scores) retrains when labels are not
  there yet or performance dropped; when matured labels say the champion holds it is reported
  but retrains only when the importance-weighted drift is large. A declared critical feature
  drifting retrains regardless (it is the model owner's explicit choice). Many drifted columns
  that carry little importance (`monitor.drift_share`) are noted, not retrained on.
- Seasonal reference (`seasonal_reference`): a column drifted against the champion's data but
  not against the same window a season ago (or the previous window) is noted, not counted;
  without those rows the decision notes say so and the champion's data alone decides.
- Persistence: drift in `persistence_k` of the last `persistence_n` monitoring runs.
- Loop guard: while the champion stays the same, the same drift (no newly drifted columns
  carrying `new_drift_importance`, no new performance drop) triggers again only after
  `retrigger_after_days` (labels of the drifted rows have matured), only when matured labels do
  not say the champion still performs, and at most `max_triggers_per_drift` times in all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from include.retraining.config import MonitorConfig, TriggerConfig
from include.retraining.drift.evidence import DriftEvidence

PERFORMANCE = "performance"
PREDICTION = "prediction"
_PSI_BINS = 10


class MonitorOutcome(StrEnum):
    """What a monitoring run decided, as recorded in `model_monitoring.decision`.

    A retrain decision is recorded as `retrain_pending` by `report` and becomes `retrain` only
    once `trigger` emitted the drift event, so the cooldown counts only emitted triggers.
    """

    RETRAIN = "retrain"
    RETRAIN_PENDING = "retrain_pending"
    BLOCKED = "blocked"
    NONE = "none"


class HoldKind(StrEnum):
    """What holds back a retrain the evidence warrants (the held-back drift alert names it)."""

    RETRAIN_RUNNING = "retrain_running"
    COOLDOWN = "cooldown"
    LOOP_GUARD = "loop_guard"


@dataclass(frozen=True)
class Hold:
    """A blocker that holds back a retrain the evidence warrants, and when it lifts: at `until`
    (by time alone), or, when None, on what `lifts` says. Persistence (the evidence itself is not
    confirmed yet) and a past window (a stale run) are blockers but not holds."""

    kind: HoldKind
    text: str
    until: datetime | None = None
    lifts: str = ""

    def to_dict(self) -> dict[str, str | None]:
        until = self.until.isoformat() if self.until else None
        return {"kind": self.kind.value, "text": self.text, "until": until, "lifts": self.lifts}

    @classmethod
    def from_dict(cls, data: dict) -> Hold:
        until = datetime.fromisoformat(data["until"]) if data.get("until") else None
        return cls(HoldKind(data["kind"]), str(data["text"]), until, str(data.get("lifts", "")))


@dataclass(frozen=True)
class WindowRecord:
    """One earlier monitoring run, as `model_monitoring` recorded it."""

    window_end: datetime
    champion_version: str
    triggered: bool
    drift_detected: bool
    signature: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PolicyReasons:
    reasons: list[str]
    notes: list[str]
    signature: frozenset[str] = field(default_factory=frozenset)


def psi_threshold(base: float, n_reference: int, n_current: int) -> float:
    """`base` plus PSI's expected value between two samples of one distribution (bins - 1) x
    (1/n_ref + 1/n_cur), so small windows do not cross it by sampling noise alone."""
    if n_reference <= 0 or n_current <= 0:
        return base
    return base + (_PSI_BINS - 1) * (1 / n_reference + 1 / n_current)


def reasons(
    evidence: DriftEvidence,
    *,
    prediction_psi: float | None,
    performance_drop: float | None,
    monitor: MonitorConfig,
    trigger: TriggerConfig,
) -> PolicyReasons:
    """Reasons to retrain from the evidence, performance first; notes say what was reported only."""
    found, notes, signature = [], seasonal_notes(evidence), set(evidence.drifted)
    drifted, weighted = evidence.drifted, evidence.weighted_drift
    if performance_drop is not None and performance_drop > monitor.performance_drop:
        found.append(
            f"performance drift: primary metric worse by {performance_drop:.4f} (> {monitor.performance_drop:.4f})"
        )
        signature.add(PERFORMANCE)
    critical = [c for c in drifted if c in monitor.critical_features]
    if critical:
        found.append("critical feature drift: " + ", ".join(_describe(evidence, c) for c in critical))
    data = []
    if drifted and weighted >= trigger.weighted_drift:
        data.append(
            f"importance-weighted drift {weighted:.3f} >= {trigger.weighted_drift:.3f}: "
            + ", ".join(_describe(evidence, c) for c in drifted[:5])
        )
    share = len(drifted) / max(len(evidence.columns), 1)
    if share >= monitor.drift_share and weighted < trigger.weighted_drift:
        # Many drifted columns the champion hardly uses: reported, importance decides.
        notes.append(
            f"{len(drifted)}/{len(evidence.columns)} features drifted ({share:.2f} >= drift_share "
            f"{monitor.drift_share:.2f}), but they carry little of the champion's importance"
        )
    limit = psi_threshold(monitor.prediction_psi, evidence.n_reference, evidence.n_current)
    if prediction_psi is not None and math.isfinite(prediction_psi) and prediction_psi >= limit:
        data.append(f"prediction drift: PSI {prediction_psi:.3f} >= {limit:.3f} (against out-of-sample scores)")
        signature.add(PREDICTION)
    holds = performance_drop is not None and performance_drop <= monitor.performance_drop
    if data and holds and weighted < trigger.weighted_drift_large:
        notes.append(
            "data drift reported, not retrained: matured labels say the champion holds (drop "
            f"{performance_drop:.4f} <= {monitor.performance_drop:.4f}) and importance-weighted drift "
            f"{weighted:.3f} < {trigger.weighted_drift_large:.3f}: " + "; ".join(data)
        )
        data = []
    return PolicyReasons(found + data, notes, frozenset(signature))


def seasonal_notes(evidence: DriftEvidence) -> list[str]:
    """What the seasonal reference did: why it was not used, or the columns it discounted."""
    seasonal = evidence.seasonal
    if seasonal.mode == "none":
        return []
    if seasonal.note:
        return [seasonal.note]
    masked = evidence.seasonal_masked
    if not masked:
        return []
    return [
        f"seasonal reference ({seasonal.mode}, {seasonal.rows} rows): {', '.join(masked)} drifted against "
        "the champion's training data but not against it: a recurring swing, not counted as drift"
    ]


def earlier_runs(history: Sequence[WindowRecord], now: datetime) -> list[WindowRecord]:
    """The runs before `now`, oldest first: what persistence and the loop guard read."""
    return sorted((r for r in history if r.window_end < now), key=lambda r: r.window_end)


def persistence(earlier: list[WindowRecord], trigger: TriggerConfig) -> str | None:
    """The blocker while drift was seen in fewer than `persistence_k` of the last `persistence_n`
    runs (this run, which has drift, included); None once it persisted."""
    recent = earlier[-(trigger.persistence_n - 1) :] if trigger.persistence_n > 1 else []
    seen = 1 + sum(r.drift_detected for r in recent)
    if seen >= trigger.persistence_k:
        return None
    return f"persistence: drift in {seen} of the last {trigger.persistence_n} runs (< {trigger.persistence_k})"


def loop_guard(
    earlier: list[WindowRecord],
    *,
    now: datetime,
    champion_version: str,
    signature: frozenset[str],
    evidence: DriftEvidence | None,
    trigger: TriggerConfig,
    performance_holds: bool = False,
) -> Hold | None:
    """The loop guard over the runs before `now` (this run has drift); `performance_holds`:
    matured labels say the champion performs as at its holdout."""
    triggers = [r for r in _same_champion(earlier, champion_version) if r.triggered]
    if not triggers:
        return None
    covered = frozenset().union(*(r.signature for r in triggers))
    new = signature - covered
    # Prediction drift follows the columns' drift; a matured-label drop is new evidence.
    new_columns = [c for c in new if c not in (PERFORMANCE, PREDICTION)]
    if PERFORMANCE in new or (evidence and evidence.importance_of(new_columns) >= trigger.new_drift_importance):
        return None
    last = max(r.window_end for r in triggers)
    changes = "newly drifted columns the champion relies on, a performance drop, or a new champion"
    if len(triggers) >= trigger.max_triggers_per_drift:
        text = (
            f"loop guard: {len(triggers)} retrains already triggered on this drift while champion v{champion_version} "
            "stayed; waiting for the drift or the champion to change"
        )
        return Hold(HoldKind.LOOP_GUARD, text, lifts=f"when the drift changes ({changes})")
    if performance_holds:
        text = (
            f"loop guard: a retrain on this drift left champion v{champion_version} in place and matured "
            "labels say it still performs: the same drift does not retrain again"
        )
        return Hold(
            HoldKind.LOOP_GUARD, text, lifts=f"when matured labels show a drop or the drift changes ({changes})"
        )
    again = last + timedelta(days=trigger.retrigger_after_days)
    if now < again:
        text = (
            f"loop guard: the retrain triggered at {last.isoformat()} on this drift left champion "
            f"v{champion_version} in place; the same evidence retrains again only "
            f"{trigger.retrigger_after_days:g} days after it"
        )
        return Hold(HoldKind.LOOP_GUARD, text, again, "if matured labels do not say the champion still performs")
    return None


def _same_champion(earlier: list[WindowRecord], champion_version: str) -> list[WindowRecord]:
    """The latest runs, newest first, back to the last one that monitored another champion."""
    found = []
    for record in reversed(earlier):
        if record.champion_version != champion_version:
            break
        found.append(record)
    return found


def _describe(evidence: DriftEvidence, column: str) -> str:
    c = evidence.columns[column]
    return f"{column} (effect {c.effect:.3f}, q {c.q_value:.2g}, importance {c.importance:.2f})"


def records_from_rows(rows: Sequence[dict]) -> tuple[WindowRecord, ...]:
    """`model_monitoring` rows (as dicts) as records; a row without a signature has none."""
    records = []
    for row in rows:
        raw = row.get("drift_signature")
        signature = frozenset(s for s in str(raw).split(",") if s) if isinstance(raw, str) else frozenset()
        records.append(
            WindowRecord(
                window_end=row["window_end"],
                champion_version=str(row["champion_version"]),
                triggered=row["decision"] == MonitorOutcome.RETRAIN,
                drift_detected=bool(row["drift_detected"]),
                signature=signature,
            )
        )
    return tuple(records)
