"""Task bodies of monitor_<model>: Airflow context in, one monitoring step, Airflow outcome out.

Each task hands the next a typed dict (`include.retraining.monitor.contracts`), which crosses
XCom as the plain dict it is.
"""

from __future__ import annotations

import logging

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.assets import drift_asset
from include.orchestration.runtime import step_context
from include.retraining.alerts.outbox import drift_alert, extraction_stopped_alert, gate_key
from include.retraining.config.model import ModelConfig
from include.retraining.monitor import seasonal as monitor_seasonal
from include.retraining.monitor import steps as monitor_steps
from include.retraining.monitor.contracts import (
    ChampionUnusable,
    CurrentWindow,
    DecisionDict,
    DriftEventExtra,
    DriftResult,
    MonitoringSkipped,
    PerformanceResult,
    ReferenceInfo,
    ReportResult,
    SeasonalWindow,
)
from include.retraining.monitor.estimate import PerformanceEstimate
from include.retraining.monitor.record import MonitoringResults
from include.retraining.runs.context import StepContext
from include.retraining.warehouse.reads import WarehouseError

log = logging.getLogger(__name__)


def _skip_on(exc: MonitoringSkipped, ctx: StepContext) -> AirflowSkipException:
    """The skip that ends the run with its reason; an unusable champion also alerts (once per run)."""
    log.warning("skipped: %s", exc)
    if isinstance(exc, ChampionUnusable):
        alert = exc.to_alert({"Airflow run": ctx.run_url}, gate_key(ctx.run.dag_id, ctx.run.run_id, exc.reason))
        deliver_alert(alert, ctx.config.alerts.slack_conn_id, ctx.settings)
    return AirflowSkipException(str(exc))


def reference(config: ModelConfig) -> ReferenceInfo:
    ctx = step_context(config)
    try:
        ref = monitor_steps.reference(ctx)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    log.info(
        "reference: champion v%s, reference sample %s, features %s", ref["version"], ref["snapshot"], ref["features"]
    )
    return ref


def current(config: ModelConfig, ref: ReferenceInfo) -> CurrentWindow:
    ctx = step_context(config, warehouse=True)
    try:
        cur = monitor_steps.current(ctx, ref)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    except WarehouseError as exc:
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "current")
        alert = extraction_stopped_alert(config.name, str(exc), {"Airflow run": ctx.run_url}, key)
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    log.info(
        "current window %s: %d rows, %d with matured labels", cur["window"], cur["rows_current"], cur["rows_matured"]
    )
    return cur


def seasonal_reference(config: ModelConfig, cur: CurrentWindow) -> SeasonalWindow:
    ctx = step_context(config, warehouse=config.trigger.seasonal_reference != "none")
    seasonal = monitor_seasonal.seasonal_reference(ctx, cur)
    log.info(
        "seasonal reference %s: window %s, %d rows %s",
        seasonal["mode"],
        seasonal["window"],
        seasonal["rows"],
        seasonal["note"] or seasonal["path"] or "",
    )
    return seasonal


def data_drift(config: ModelConfig, ref: ReferenceInfo, cur: CurrentWindow, seasonal: SeasonalWindow) -> DriftResult:
    ctx = step_context(config)
    try:
        drift = monitor_steps.data_drift(ctx, ref, cur, seasonal)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    log.info(
        "data drift: %d of %d features drifted (share %.2f): %s; prediction PSI %.3f; report %s",
        len(drift["drifted_columns"]),
        len(drift["columns"]),
        drift["drift_share"],
        drift["drifted_columns"],
        drift["prediction_psi"],
        drift["report_html"],
    )
    if "performance_estimate" in drift:
        log.info("%s", PerformanceEstimate.from_dict(drift["performance_estimate"]).describe())
    return drift


def performance(config: ModelConfig, ref: ReferenceInfo, cur: CurrentWindow) -> PerformanceResult:
    ctx = step_context(config)
    try:
        perf = monitor_steps.performance(ctx, ref, cur)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    log.info("performance on matured labels: %s", perf)
    return perf


def decide(config: ModelConfig, drift: DriftResult, perf: PerformanceResult) -> DecisionDict:
    ctx = step_context(config, warehouse=True)
    ti = get_current_context()["ti"]
    running = ti.get_dr_count(dag_id=config.retrain_dag_id, states=["queued", "running"]) > 0
    decision = monitor_steps.decide(ctx, drift, perf, running)
    log.info("decision: %s", decision)
    return decision


def report(
    config: ModelConfig,
    ref: ReferenceInfo,
    cur: CurrentWindow,
    drift: DriftResult,
    perf: PerformanceResult,
    decision: DecisionDict,
) -> ReportResult:
    ctx = step_context(config, warehouse=True)
    result = monitor_steps.report(ctx, MonitoringResults(ref=ref, cur=cur, drift=drift, perf=perf, decision=decision))
    log.info(
        "decision %s; report %s; MLflow run %s", result["decision"], result["report_html"], result["mlflow_run_id"]
    )
    return result


def trigger(config: ModelConfig, cur: CurrentWindow, drift: DriftResult, decision: DecisionDict) -> DriftEventExtra:
    """Emit the drift event (which schedules retrain_<model>) only when the decision says so.

    The `model_monitoring` row is marked emitted last: if anything before fails, the task fails,
    no event goes out and the cooldown does not count this retrain.
    """
    if not decision["retrain"]:
        why = decision["blocked_by"] or "no threshold crossed"
        raise AirflowSkipException(f"no drift event: {why}")
    ctx = step_context(config, warehouse=True)
    extra: DriftEventExtra = {
        "reason": "; ".join(decision["reasons"]),
        "window_end": cur["window"]["end"],
        "drift_share": drift["drift_share"],
        "drifted_columns": drift["drifted_columns"],
        "prediction_psi": drift["prediction_psi"],
        "monitor_run_id": ctx.run.run_id,
        "report": drift["report_html"],
    }
    get_current_context()["outlet_events"][drift_asset(config.name)].extra = dict(extra)
    links = {"Evidently report": drift["report_html"], "Airflow run": ctx.run_url}
    key = gate_key(ctx.run.dag_id, ctx.run.run_id, "drift")
    deliver_alert(
        drift_alert(config.name, dict(decision), dict(drift), links, key), config.alerts.slack_conn_id, ctx.settings
    )
    monitor_steps.mark_triggered(ctx, cur)
    log.info("drift event emitted on %s: %s", drift_asset(config.name).name, extra["reason"])
    return extra
