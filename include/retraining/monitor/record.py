"""What a monitoring run leaves behind: its `model_monitoring` row and its MLflow run.

The row is the history the cooldown reads (a retrain decision is recorded as `retrain_pending`
until `trigger` emitted its event); the MLflow run in `<model>-monitoring` holds the scores per
column, the matured-label metric, the Evidently report and the decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from include.retraining.common.settings import Settings
from include.retraining.common.windows import Window
from include.retraining.config.model import ModelConfig
from include.retraining.drift import decision as drift_gate
from include.retraining.drift.decision import DriftDecision, MonitorOutcome
from include.retraining.monitor import served as monitor_served
from include.retraining.monitor.contracts import (
    CurrentWindow,
    DecisionDict,
    DriftResult,
    PerformanceResult,
    ReferenceInfo,
)
from include.retraining.monitor.estimate import PerformanceEstimate
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.tracking.tracker import MAX_TAG_CHARS, RunRecord


@dataclass(frozen=True)
class MonitoringResults:
    """Everything the monitoring tasks found for one interval, as they handed it on."""

    ref: ReferenceInfo
    cur: CurrentWindow
    drift: DriftResult
    perf: PerformanceResult
    decision: DecisionDict

    @property
    def window(self) -> Window:
        return Window.from_dict(dict(self.cur["window"]))


def monitoring_row(config: ModelConfig, run: RunInfo, results: MonitoringResults) -> dict[str, Any]:
    """The interval's `model_monitoring` row (without its MLflow run id)."""
    cur, drift, perf, decision = results.cur, results.drift, results.perf, results.decision
    outcome = DriftDecision.from_dict(dict(decision)).outcome
    reasons = decision["reasons"] + ([decision["blocked_by"]] if decision["blocked_by"] else [])
    return {
        "model": config.name,
        "window_start": results.window.start.replace(tzinfo=None),
        "window_end": results.window.end.replace(tzinfo=None),
        "airflow_run_id": run.run_id,
        "champion_version": str(results.ref["version"]),
        "rows_current": cur["rows_current"],
        "rows_matured": cur["rows_matured"],
        **_rows_read(cur),
        "sampled": bool(cur.get("sampled", False)),
        "drift_share": drift["drift_share"],
        "drifted_columns": ",".join(drift["drifted_columns"]),
        "prediction_psi": drift["prediction_psi"],
        "metric": perf["metric"],
        "metric_holdout": perf["holdout_value"],
        "metric_current": perf["current_value"],
        "performance_drop": perf["drop"],
        "drift_detected": bool(decision["drift_detected"]),
        "decision": str(MonitorOutcome.RETRAIN_PENDING if outcome is MonitorOutcome.RETRAIN else outcome),
        "reasons": "; ".join(reasons),
        "report_path": drift["report_html"],
        **monitor_served.record_columns(drift, perf),
        "drift_signature": ",".join(decision.get("signature", [])),
    }


def run_tags(settings: Settings, run: RunInfo, results: MonitoringResults) -> dict[str, str]:
    return {
        **_identity(results),
        "monitoring.decision": drift_gate.decision_label(dict(results.decision)),
        "monitoring.reasons": "; ".join(results.decision["reasons"])[:MAX_TAG_CHARS],
        "airflow.dag_id": run.dag_id,
        "airflow.run_id": run.run_id,
        "airflow.run_url": run.airflow_url(settings),
        **({"monitoring.estimate": _estimate(results).describe()[:MAX_TAG_CHARS]} if _estimate(results) else {}),
    }


def _estimate(results: MonitoringResults) -> PerformanceEstimate | None:
    found = results.drift.get("performance_estimate")
    return PerformanceEstimate.from_dict(found) if found else None


def run_metrics(results: MonitoringResults) -> dict[str, float]:
    cur, drift, perf = results.cur, results.drift, results.perf
    metrics = {
        "drift_share": drift["drift_share"],
        "drifted_columns": len(drift["drifted_columns"]),
        "prediction_psi": drift["prediction_psi"],
        "rows_current": cur["rows_current"],
        "rows_matured": cur["rows_matured"],
        **_rows_read(cur),
        **{
            f"drift_score.{name}": column["score"]
            for name, column in drift["columns"].items()
            if column["score"] is not None
        },
    }
    if perf["current_value"] is not None:
        metrics[f"matured_{perf['metric']}"] = perf["current_value"]
    if perf["drop"] is not None:
        metrics["performance_drop"] = perf["drop"]
    estimate = _estimate(results)
    if estimate is not None and estimate.value is not None:
        metrics[f"estimated_{estimate.metric}"] = estimate.value
        if estimate.gap is not None:
            metrics["estimated_drop"] = estimate.gap
    return {**metrics, **monitor_served.record_metrics(perf)}


def _rows_read(cur: CurrentWindow) -> dict[str, int]:
    """Rows read of each window: all of them unless the window was read as a sample."""
    return {
        "rows_current_read": cur.get("rows_current_read", cur["rows_current"]),
        "rows_matured_read": cur.get("rows_matured_read", cur["rows_matured"]),
    }


def _identity(results: MonitoringResults) -> dict[str, str]:
    return {"monitoring.window": results.window.label, "monitoring.champion_version": str(results.ref["version"])}


def log_monitoring_run(ctx: StepContext, results: MonitoringResults) -> str:
    """The interval's finished MLflow monitoring run: reused on a rerun, else logged now."""
    tracker = ctx.tracker
    experiment_id = tracker.ensure_experiment(f"{ctx.config.name}-monitoring")
    existing = tracker.find_finished_run(experiment_id, _identity(results))
    if existing:
        return existing
    estimate = results.drift.get("performance_estimate")
    decision_json = json.dumps(
        {"decision": results.decision, "performance": results.perf, "performance_estimate": estimate},
        indent=2,
        default=str,
    )
    record = RunRecord(
        tags=run_tags(ctx.settings, ctx.run, results),
        metrics=run_metrics(results),
        artifacts={"report": [results.drift["report_html"], results.drift["report_json"]]},
        texts={"report/decision.json": decision_json},
    )
    return tracker.log_run(experiment_id, f"monitor {results.window.label}", record)
