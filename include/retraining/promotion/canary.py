"""The canary (`serving.canary`): a challenger that passed the gate answers a share of traffic
before it may replace the champion, and matured labels decide.

With `serving.canary` set, a passing gate (and, with `gate.approval`, the person's approval) puts
the version on canary: alias `challenger`, tagged `retraining.decision=canary` (`moves.start_canary`);
`champion` does not move. The REST server and `score_<model>` answer `fraction` of rows with it,
the champion scoring those rows too (in shadow), so each canary row is a pair. Each monitor run
settles it on the matured window's labelled pairs with the gate's own paired interval (challenger
minus the current champion, `gate.confidence`): a lower bound above `gate.min_improvement`
promotes it through `move_champion` (log row `promote`, alias `challenger` removed); an upper bound
below zero ends it (log row `reject` first, then alias `challenger` removed, one alert); anything
else waits for more labels. Each outcome writes at most one log row: a rerun finds the row (or
the champion) and only completes the alias removal. A version blocked by the gate also holds alias
`challenger` (for shadow scoring) but never this tag, so it never answers traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.alerts import Alert
from include.retraining.artifacts import read_snapshot
from include.retraining.common import Window
from include.retraining.config import ModelConfig
from include.retraining.learning import ImprovementInterval
from include.retraining.promotion.gate import gate_interval
from include.retraining.promotion.moves import CANARY, latest_move, move_champion, promotion_lock, reconcile
from include.retraining.runs import StepContext
from include.retraining.tables import SCHEDULER, PromotionAction, PromotionRecord, append_once, history
from include.retraining.tracking import CHALLENGER, DECISION_TAG

ENDED_FIGURE = "canary"  # the figures key that marks a log row as a canary's outcome
_KEYS = ["id", "event_time", "source"]  # one prediction: a REST and a batch row of one id are two


class CanaryOutcome(StrEnum):
    PROMOTED = "promoted"
    ENDED = "ended"
    WAITING = "waiting"


class NoCanary(Exception):
    """No canary to settle; the message says why."""


@dataclass(frozen=True)
class CanaryResult:
    outcome: CanaryOutcome
    version: str
    reason: str
    interval: dict[str, Any] | None = None
    log_id: int | None = None
    alert: Alert | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "version": self.version,
            "reason": self.reason,
            "interval": self.interval,
            "log_id": self.log_id,
        }


def on_canary(tags: dict[str, str]) -> bool:
    """Whether a version's tags put it on canary (a blocked challenger's never do)."""
    return tags.get(DECISION_TAG) == CANARY


def canary_pairs(served: pd.DataFrame, champion: str, challenger: str) -> pd.DataFrame:
    """The labelled predictions both versions scored: `label`, `challenger`, `champion` scores."""
    keys = [k for k in _KEYS if k in served.columns]
    side = {
        name: served.loc[(served["alias"] == alias) & (served["model_version"].astype(str) == version)]
        for name, alias, version in (("challenger", CHALLENGER, challenger), ("champion", "champion", champion))
    }
    pairs = side["challenger"].merge(side["champion"], on=keys, suffixes=("", "_champion"))
    pairs = pairs.dropna(subset=["label"])
    return pd.DataFrame(
        {"label": pairs["label"], "challenger": pairs["score"], "champion": pairs["score_champion"]}
    ).reset_index(drop=True)


def judge_canary(config: ModelConfig, interval: ImprovementInterval) -> tuple[CanaryOutcome, str]:
    """The gate's rule on the canary's pairs: promote above min_improvement, end when significantly
    worse, else wait."""
    minimum = config.gate.min_improvement
    said = (
        f"{interval.metric} challenger minus champion {interval.difference:+.4f} on {interval.rows:,} matured pairs, "
        f"{interval.confidence:.1%} interval {interval.lower:+.4f} .. {interval.upper:+.4f}"
    )
    if not (math.isfinite(interval.lower) and math.isfinite(interval.upper)):
        return CanaryOutcome.WAITING, f"{said}: not finite, nothing to decide on yet"
    if interval.lower > minimum:
        return CanaryOutcome.PROMOTED, f"{said}: the lower bound clears gate.min_improvement {minimum:+.4f}"
    if interval.upper < 0:
        return CanaryOutcome.ENDED, f"{said}: significantly worse than the champion"
    return CanaryOutcome.WAITING, f"{said}: undecided (min_improvement {minimum:+.4f}); waiting for more labels"


def settle_canary(ctx: StepContext, served: pd.DataFrame, window: Window) -> CanaryResult:
    """Promote, end or keep the canary on the matured window's labelled served rows (every alias,
    `label` joined); raises NoCanary when there is none to settle."""
    config, registry, db = ctx.config, ctx.registry, ctx.pipeline_db
    if config.serving.canary is None:
        raise NoCanary(f"model {config.name!r}: serving.canary is not set")
    with promotion_lock(db, config.name):
        reconcile(db, registry, config.name)
        settled = _settled_by_this_run(ctx)
        if settled is not None:
            return _settled_again(ctx, settled)
        challenger, champion = registry.alias(CHALLENGER), registry.champion()
        if challenger is None or not on_canary(challenger.tags) or champion is None:
            raise NoCanary(f"model {config.name!r}: no version on canary (alias challenger tagged {CANARY})")
        version = challenger.version
        if champion.version == version or _ended(ctx, version):
            registry.remove_alias(CHALLENGER)  # a settled canary whose alias removal was lost
            raise NoCanary(f"model {config.name!r}: the canary of version {version} was already settled")
        pairs = canary_pairs(served, champion.version, version)
        y = pairs["label"].to_numpy(dtype="float64")
        if len(pairs) < config.monitor.min_rows or (config.task == "classification" and np.unique(y).size < 2):
            reason = f"{len(pairs)} labelled pairs in the matured window (one class or < monitor.min_rows)"
            return CanaryResult(CanaryOutcome.WAITING, version, reason)
        metric = config.primary_metric
        interval = gate_interval(config, metric, y, pairs["challenger"].to_numpy(), pairs["champion"].to_numpy())
        outcome, reason = judge_canary(config, interval)
        if outcome is CanaryOutcome.WAITING:
            return CanaryResult(outcome, version, reason, interval.to_dict())
        record = _record(ctx, outcome, champion.version, version, reason, interval, window)
        if outcome is CanaryOutcome.PROMOTED:
            move_champion(db, registry, record, {})
            record = latest_move(db, config.name) or record
        else:
            record = append_once(db, record)  # recorded first: a crash before the removal is redone
        registry.remove_alias(CHALLENGER)
    alert = _ended_alert(ctx, version, champion.version, reason) if outcome is CanaryOutcome.ENDED else None
    return CanaryResult(outcome, version, reason, interval.to_dict(), record.id, alert)


def settle_canary_window(ctx: StepContext, served_matured: str | None, window: Window) -> CanaryResult:
    """`settle_canary` on the monitor's snapshot of the matured window's served rows and labels
    (`CurrentWindow.served_matured`); NoCanary when nothing was served in that window."""
    if not served_matured:
        raise NoCanary(f"model {ctx.config.name!r}: nothing was served in the matured window")
    return settle_canary(ctx, read_snapshot(served_matured), window)


def _record(
    ctx: StepContext,
    outcome: CanaryOutcome,
    champion: str,
    version: str,
    reason: str,
    interval: ImprovementInterval,
    window: Window,
) -> PromotionRecord:
    action = PromotionAction.PROMOTE if outcome is CanaryOutcome.PROMOTED else PromotionAction.REJECT
    figures = {
        "metric": interval.metric,
        "interval": interval.to_dict(),
        ENDED_FIGURE: {"outcome": outcome.value, "matured_window": window.to_dict()},
    }
    return PromotionRecord(
        model=ctx.config.name,
        to_version=version,
        action=action,
        reason=f"canary {outcome.value}: {reason}",
        from_version=champion,
        figures=figures,
        actor=SCHEDULER,
        run_url=ctx.run_url,
    )


def _settled_by_this_run(ctx: StepContext) -> PromotionRecord | None:
    """The log row of this run's own settlement of a canary, when this is a retry of that run."""
    rows = history(ctx.pipeline_db, ctx.config.name, 50)
    return next((r for r in rows if ENDED_FIGURE in (r.figures or {}) and r.run_url == ctx.run_url), None)


def _settled_again(ctx: StepContext, row: PromotionRecord) -> CanaryResult:
    """A retry of the run that settled the canary: the same result, with its alert again (the
    outbox posts it once), so a crash between the settlement and the alert's record loses neither
    the alert nor, for a promotion, the champion event of the task's success."""
    if (challenger := ctx.registry.alias(CHALLENGER)) is not None and challenger.version == row.to_version:
        ctx.registry.remove_alias(CHALLENGER)
    outcome = CanaryOutcome(row.figures[ENDED_FIGURE]["outcome"])
    reason = row.reason.removeprefix(f"canary {outcome.value}: ")
    ended = outcome is CanaryOutcome.ENDED
    alert = _ended_alert(ctx, row.to_version, str(row.from_version), reason) if ended else None
    return CanaryResult(outcome, row.to_version, reason, row.figures.get("interval"), row.id, alert)


def _ended(ctx: StepContext, version: str) -> bool:
    """Whether the log already holds the end of this version's canary."""
    rows = history(ctx.pipeline_db, ctx.config.name, 50, to_version=version)
    return any(r.action is PromotionAction.REJECT and ENDED_FIGURE in (r.figures or {}) for r in rows)


def _ended_alert(ctx: StepContext, version: str, champion: str, reason: str) -> Alert:
    """Once per canary (the version is the key)."""
    model = ctx.config.name
    lines = [
        f"The canary of version {version} was ended: {reason}.",
        f"Champion version {champion} answers all traffic again; version {version} no longer holds alias "
        "`challenger`. A retrain puts its next passing version on canary.",
    ]
    return Alert(
        "canary_ended",
        model,
        f"{model}: canary of version {version} ended, significantly worse",
        lines,
        {"Airflow run": ctx.run_url},
        {"version": version, "champion_version": champion},
        f"{model}/canary/{version}/ended",
    )
