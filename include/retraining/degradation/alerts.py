"""The degradation alerts of a monitoring run, raised by its `report` task whatever the retrain
decision. Every run of an episode names the same alert (`episode_key`: the window end of its first
run), so the outbox, which records a key once, sends it once, and a rerun of any window is
idempotent."""

from __future__ import annotations

from typing import Any

from include.retraining.alerts import Alert, drift_held_back_alert, episode_key, performance_limit_alert
from include.retraining.config import AlertLimit
from include.retraining.degradation.episodes import Episode, held_episode, limit_episode, next_allowed
from include.retraining.monitor import HISTORY_ROWS, MonitoringResults
from include.retraining.runs import StepContext
from include.retraining.tables import read_history

PERFORMANCE_LIMIT, DRIFT_HELD_BACK = "performance_limit", "drift_held_back"


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
