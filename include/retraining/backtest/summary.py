"""The backtest's figures from its journal, pure: which model each policy served when, one record
per window, and the summary of the three policies.

The three policies, on the same rows:
- `policy`: the model file as configured (drift triggers, the weekly retrain, the gate), and the
  rollbacks by hand replayed (`--rollback`): they moved the policy's champion;
- `left_alone`: the first model promoted, never replaced;
- `every_cron`: every scheduled retrain that trained is promoted at once, no gate (a drift trigger
  starts nothing; a window that fails extraction or validation keeps the last model). The
  baselines take no rollback by hand: it was a person's answer to the policy's champion."""

from __future__ import annotations

from datetime import datetime
from statistics import fmean
from typing import Any

POLICIES = ("policy", "left_alone", "every_cron")
PROMOTED = ("promoted", "repaired")
BLOCKED = "blocked"
ROLLED_BACK = "rolled_back"


def served_models(runs: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, str]]]:
    """For each policy, the moves of the model it served: (after this time, model URI), oldest
    first, from the runs in the order they ran (each with the isolated champion after it)."""
    policy: list[tuple[datetime, str]] = []
    every_cron: list[tuple[datetime, str]] = []
    for run in runs:
        at = datetime.fromisoformat(run["at"])
        champion = run.get("champion_after")
        if champion and (not policy or policy[-1][1] != champion["uri"]):
            policy.append((at, champion["uri"]))
        if run["kind"] == "retrain" and run["trigger"] == "schedule" and run.get("model_uri"):
            every_cron.append((at, run["model_uri"]))
    return {"policy": policy, "left_alone": policy[:1], "every_cron": every_cron}


def in_force(moves: list[tuple[datetime, str]], start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """The moves whose model served some part of (start, end]: the one in force at start and any
    move inside."""
    before = [move for move in moves if move[0] <= start][-1:]
    return before + [move for move in moves if start < move[0] < end]


def window_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A window's counts from its own runs (monitor runs and retrains, in the order they ran)."""
    monitors = [r for r in runs if r["kind"] == "monitor"]
    retrains = [r for r in runs if r["kind"] == "retrain"]
    drift_retrains = [r for r in retrains if r["trigger"] == "drift"]
    return {
        "drift_triggers": sum(bool(r.get("trigger")) for r in monitors),
        # A retrain that found its snapshot already trained (a drift retrain earlier on the same window) fit nothing.
        "retrains": sum(r.get("model_uri") is not None and not r.get("reused") for r in retrains),
        "promotions": sum(r.get("outcome") in PROMOTED for r in retrains),
        "blocked": sum(r.get("outcome") == BLOCKED for r in retrains),
        "false_alarms": sum(r.get("outcome") == BLOCKED for r in drift_retrains),
        "rollbacks": sum(r["kind"] == "rollback" and r.get("outcome") == ROLLED_BACK for r in runs),
        "scheduled_retrains": sum(r.get("model_uri") is not None and r["trigger"] == "schedule" for r in retrains),
        "task_seconds": sum(r.get("seconds", 0.0) for r in runs),
        "every_cron_seconds": sum(r.get("train_seconds", 0.0) for r in retrains if r["trigger"] == "schedule"),
        "alerts": [a for r in runs for a in r.get("alerts", [])],
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def summarize(windows: list[dict[str, Any]], metric: str, planned: int) -> dict[str, Any]:
    """The summary of finished windows: what `summary.json` holds. The mean served metrics are
    over the windows where all three policies served a model, so they compare the same rows."""
    compared = [w for w in windows if all(w.get(f"metric_{p}") is not None for p in POLICIES)]
    totals = {key: sum(w[key] for w in windows) for key in ("drift_triggers", "retrains", "promotions", "blocked")}
    false_alarms = sum(w["false_alarms"] for w in windows)
    first_model = next((w["first_model_seconds"] for w in windows if w.get("first_model_seconds") is not None), 0.0)
    seconds = {
        "policy": sum(w["task_seconds"] for w in windows),
        "left_alone": first_model,
        "every_cron": sum(w["every_cron_seconds"] for w in windows),
    }
    retrains = {
        "policy": totals["retrains"],
        "left_alone": min(1, totals["retrains"]),
        "every_cron": sum(w["scheduled_retrains"] for w in windows),
    }
    policies = {
        p: {
            "mean_metric": _mean([w[f"metric_{p}"] for w in compared]),
            "retrains": retrains[p],
            "promotions": totals["promotions"] if p == "policy" else retrains[p],
            "blocked": totals["blocked"] if p == "policy" else 0,
            "false_alarms": false_alarms if p == "policy" else 0,
            "task_seconds": seconds[p],
        }
        for p in POLICIES
    }
    return {
        "windows": len(windows),
        "windows_planned": planned,
        "complete": len(windows) == planned,
        "windows_compared": len(compared),
        **totals,
        "false_alarms": false_alarms,
        "rollbacks": sum(w.get("rollbacks", 0) for w in windows),
        "metric": metric,
        **{f"metric_{p}": policies[p]["mean_metric"] for p in POLICIES},
        "task_seconds": seconds["policy"],
        "policies": policies,
        "alerts": sum(len(w["alerts"]) for w in windows),
    }
