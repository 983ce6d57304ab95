"""What a monitoring run leaves behind: its `model_monitoring` row and its MLflow run.

The row is the history the cooldown reads (a retrain decision is recorded as `retrain_pending`
until `trigger` emitted its event); the MLflow run in `<model>-monitoring` holds the scores per
column, the matured-label metric, the Evidently report and the decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from include.retraining.common import Settings, Window
from include.retraining.config import ModelConfig
from include.retraining.drift import DriftDecision, MonitorOutcome
from include.retraining.monitor.contracts import CurrentWindow, DriftResult, Performance, Reference
from include.retraining.monitor.served import record_columns, record_metrics
from include.retraining.runs import RunInfo, StepContext
from include.retraining.tracking import MAX_TAG_CHARS, RunRecord


@dataclass(frozen=True)
class MonitoringResults:
    """Everything the monitoring tasks found for one interval, as they handed it on."""

    ref: Reference
    cur: CurrentWindow
    drift: DriftResult
    perf: Performance
    decision: DriftDecision

    @property
    def window(self) -> Window:
        return self.cur.window


def monitoring_row(config: ModelConfig, run: RunInfo, results: MonitoringResults) -> dict[str, Any]:
    """The interval's `model_monitoring` row (without its MLflow run id)."""
    cur, drift, perf, decision = results.cur, results.drift, results.perf, results.decision
    outcome = decision.outcome
    reasons = decision.reasons + ([decision.blocked_by] if decision.blocked_by else [])
    return {
        "model": config.name,
        "window_start": results.window.start.replace(tzinfo=None),
        "window_end": results.window.end.replace(tzinfo=None),
        "airflow_run_id": run.run_id,
        "champion_version": str(results.ref.version),
        "rows_current": cur.rows_current,
        "rows_matured": cur.rows_matured,
        "rows_current_read": cur.rows_current_read,
        "rows_matured_read": cur.rows_matured_read,
        "sampled": cur.sampled,
        "drift_share": drift.summary.drift_share,
        "drifted_columns": ",".join(drift.drifted_columns),
        "prediction_psi": drift.prediction_psi,
        "metric": perf.metric,
        "metric_holdout": perf.holdout_value,
        "metric_current": perf.current_value,
        "performance_drop": perf.drop,
        "drift_detected": decision.drift_detected,
        "decision": str(MonitorOutcome.RETRAIN_PENDING if outcome is MonitorOutcome.RETRAIN else outcome),
        "reasons": "; ".join(reasons),
        "report_path": drift.report_html,
        **record_columns(drift, perf),
        "drift_signature": ",".join(decision.signature),
    }


def run_tags(settings: Settings, run: RunInfo, results: MonitoringResults) -> dict[str, str]:
    estimate = results.drift.estimate
    return {
        **_identity(results),
        "monitoring.decision": results.decision.outcome.value,
        "monitoring.reasons": "; ".join(results.decision.reasons)[:MAX_TAG_CHARS],
        "airflow.dag_id": run.dag_id,
        "airflow.run_id": run.run_id,
        "airflow.run_url": run.airflow_url(settings),
        **({"monitoring.estimate": estimate.describe()[:MAX_TAG_CHARS]} if estimate else {}),
    }


def run_metrics(results: MonitoringResults) -> dict[str, float]:
    cur, drift, perf = results.cur, results.drift, results.perf
    metrics = {
        "drift_share": drift.summary.drift_share,
        "drifted_columns": len(drift.drifted_columns),
        "prediction_psi": drift.prediction_psi,
        "rows_current": cur.rows_current,
        "rows_matured": cur.rows_matured,
        "rows_current_read": cur.rows_current_read,
        "rows_matured_read": cur.rows_matured_read,
        **{
            f"drift_score.{name}": column.score
            for name, column in drift.summary.columns.items()
            if column.to_dict()["score"] is not None
        },
    }
    if perf.current_value is not None:
        metrics[f"matured_{perf.metric}"] = perf.current_value
    if perf.drop is not None:
        metrics["performance_drop"] = perf.drop
    estimate = drift.estimate
    if estimate is not None and estimate.value is not None:
        metrics[f"estimated_{estimate.metric}"] = estimate.value
        if estimate.gap is not None:
            metrics["estimated_drop"] = estimate.gap
    return {**metrics, **record_metrics(perf)}


def _identity(results: MonitoringResults) -> dict[str, str]:
    return {"monitoring.window": results.window.label, "monitoring.champion_version": str(results.ref.version)}


def log_monitoring_run(ctx: StepContext, results: MonitoringResults) -> str:
    """The interval's finished MLflow monitoring run: reused on a rerun, else logged now."""
    tracker = ctx.tracker
    experiment_id = tracker.ensure_experiment(f"{ctx.config.name}-monitoring")
    existing = tracker.find_finished_run(experiment_id, _identity(results))
    if existing:
        return existing
    estimate = results.drift.estimate
    decision_json = json.dumps(
        {
            "decision": results.decision.to_dict(),
            "performance": results.perf.to_xcom(),
            "performance_estimate": estimate.to_dict() if estimate else None,
        },
        indent=2,
        default=str,
    )
    record = RunRecord(
        tags=run_tags(ctx.settings, ctx.run, results),
        metrics=run_metrics(results),
        artifacts={"report": [results.drift.report_html, results.drift.report_json]},
        texts={"report/decision.json": decision_json},
    )
    return tracker.log_run(experiment_id, f"monitor {results.window.label}", record)
