"""The monitor's degradation alerts, raised whatever the retrain decision: the champion's primary
metric on matured labels beyond `monitor.alert_below` (`alert_above` for a loss), and drift the
trigger policy would retrain on but holds back (cooldown, loop guard, a running retrain).

Each is raised once per episode. An episode is read from the `model_monitoring` rows of the runs
before this window, so no state of its own is kept:
- the metric's episode is the unbroken run of windows whose measured value is beyond the bound
  (judged against the bound configured now); a window without matured labels, or measured in
  another metric, neither continues nor ends it; a value back inside the bound ends it;
- the drift's episode is the unbroken run of windows with drift detected against the same
  champion; a window without drift, or a new champion, ends it.
Every run of an episode names the same alert (`episode_key`: the window end of its first run), so
the outbox, which records a key once, sends it once, and a rerun of any window is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.retraining.alerts import Alert, drift_held_back_alert, episode_key, performance_limit_alert
from include.retraining.config import AlertLimit
from include.retraining.drift import DriftDecision
from include.retraining.monitor.evidence import HISTORY_ROWS
from include.retraining.monitor.record import MonitoringResults
from include.retraining.runs import StepContext
from include.retraining.tables import read_history

PERFORMANCE_LIMIT, DRIFT_HELD_BACK = "performance_limit", "drift_held_back"


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


def degradation_alerts(ctx: StepContext, results: MonitoringResults, links: dict[str, str]) -> list[Alert]:
    """The alerts of this run's episodes (none, one or both), read from the earlier runs' rows."""
    config, now = ctx.config, results.window.end
    rows = read_history(ctx.pipeline_db, config.name, now, HISTORY_ROWS).rows
    alerts = []
    limit, perf = config.alert_limit, results.perf
    value = perf.current_value if perf.metric == config.primary_metric else None
    below = limit_episode(rows, now, limit, value) if limit is not None else None
    if below is not None and limit is not None:
        key = episode_key(config.monitor_dag_id, PERFORMANCE_LIMIT, below.start.isoformat())
        alerts.append(performance_limit_alert(config.name, _limit_figures(results, limit, below), links, key))
    held = held_episode(rows, now, results.ref.version, results.decision)
    if held is not None:
        key = episode_key(config.monitor_dag_id, DRIFT_HELD_BACK, held.start.isoformat())
        alerts.append(drift_held_back_alert(config.name, _held_figures(results, held), links, key))
    return alerts


def _limit_figures(results: MonitoringResults, limit: AlertLimit, episode: Episode) -> dict[str, Any]:
    perf, decision = results.perf, results.decision
    said = decision.outcome.value + (f" ({decision.blocked_by})" if decision.blocked_by else "")
    matured = results.cur.matured_window
    return {
        "metric": limit.metric,
        "value": perf.current_value,
        "key": limit.key,
        "limit": limit.value,
        "holdout": perf.holdout_value,
        "champion_version": results.ref.version,
        "window": f"{matured.start:%Y-%m-%d %H:%M} .. {matured.end:%Y-%m-%d %H:%M} UTC",
        "window_end": results.window.end.isoformat(),
        "rows": perf.rows,
        "source": "served predictions" if perf.source == "served" else "scored by the monitor",
        "since": episode.start.isoformat(),
        "decision": said,
    }


def _held_figures(results: MonitoringResults, episode: Episode) -> dict[str, Any]:
    decision = results.decision
    return {
        "reasons": list(decision.reasons),
        "holds": [hold.to_dict() for hold in decision.holds],
        "next_allowed": next_allowed(decision),
        "champion_version": results.ref.version,
        "window_end": results.window.end.isoformat(),
        "since": episode.start.isoformat(),
    }


def _finite(value: Any) -> bool:
    return value is not None and value == value  # NaN: a row from before matured labels
