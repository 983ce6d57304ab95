"""Task bodies of monitor_<model>: Airflow context in, one monitoring step, Airflow outcome out.

Each task hands the next a typed dict (`include.retraining.monitor_contracts`), which crosses
XCom as the plain dict it is.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.assets import drift_asset
from include.orchestration.runtime import run_info, warehouse_url
from include.retraining import monitor_steps
from include.retraining.alerts import drift_alert, extraction_stopped_alert, gate_key
from include.retraining.config import ModelConfig
from include.retraining.monitor_contracts import (
    ChampionUnusable,
    CurrentWindow,
    DecisionDict,
    DriftEventExtra,
    DriftResult,
    MonitoringSkipped,
    PerformanceResult,
    ReferenceInfo,
    ReportResult,
)
from include.retraining.monitor_record import MonitoringResults
from include.retraining.runs import RunInfo
from include.retraining.settings import Settings, load_settings
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def _skip_on(exc: MonitoringSkipped, config: ModelConfig, settings: Settings, run: RunInfo) -> AirflowSkipException:
    """The skip that ends the run with its reason; an unusable champion also alerts (once per run)."""
    log.warning("skipped: %s", exc)
    if isinstance(exc, ChampionUnusable):
        links = {"Airflow run": run.airflow_url(settings)}
        alert = exc.to_alert(links, gate_key(run.dag_id, run.run_id, ChampionUnusable.reason))
        deliver_alert(alert, config.alerts.slack_conn_id, settings)
    return AirflowSkipException(str(exc))


def _context(config: ModelConfig) -> tuple[Any, Settings, RunInfo]:
    context = get_current_context()
    return context, load_settings(), run_info(context, config)


def reference(config: ModelConfig) -> ReferenceInfo:
    _, settings, run = _context(config)
    try:
        ref = monitor_steps.reference(config, settings)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, config, settings, run) from None
    log.info(
        "reference: champion version %s, training snapshot %s, features %s",
        ref["version"],
        ref["snapshot"],
        ref["features"],
    )
    return ref


def current(config: ModelConfig, ref: ReferenceInfo) -> CurrentWindow:
    _, settings, run = _context(config)
    try:
        cur = monitor_steps.current(config, settings, run, warehouse_url(config.source.conn_id, settings), ref)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, config, settings, run) from None
    except WarehouseError as exc:
        links = {"Airflow run": run.airflow_url(settings)}
        alert = extraction_stopped_alert(config.name, str(exc), links, gate_key(run.dag_id, run.run_id, "current"))
        deliver_alert(alert, config.alerts.slack_conn_id, settings)
        raise AirflowFailException(str(exc)) from None
    log.info(
        "current window %s: %d rows, %d with matured labels", cur["window"], cur["rows_current"], cur["rows_matured"]
    )
    return cur


def data_drift(config: ModelConfig, ref: ReferenceInfo, cur: CurrentWindow) -> DriftResult:
    _, settings, run = _context(config)
    try:
        drift = monitor_steps.data_drift(config, settings, ref, cur)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, config, settings, run) from None
    log.info(
        "data drift: %d of %d features drifted (share %.2f): %s; prediction PSI %.3f; report %s",
        len(drift["drifted_columns"]),
        len(drift["columns"]),
        drift["drift_share"],
        drift["drifted_columns"],
        drift["prediction_psi"],
        drift["report_html"],
    )
    return drift


def performance(config: ModelConfig, ref: ReferenceInfo, cur: CurrentWindow) -> PerformanceResult:
    _, settings, run = _context(config)
    try:
        perf = monitor_steps.performance(config, settings, ref, cur)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, config, settings, run) from None
    log.info("performance on matured labels: %s", perf)
    return perf


def decide(config: ModelConfig, drift: DriftResult, perf: PerformanceResult) -> DecisionDict:
    context, settings, run = _context(config)
    running = context["ti"].get_dr_count(dag_id=config.retrain_dag_id, states=["queued", "running"]) > 0
    decision = monitor_steps.decide(config, run, drift, perf, warehouse_url(config.source.conn_id, settings), running)
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
    _, settings, run = _context(config)
    url = warehouse_url(config.source.conn_id, settings)
    results = MonitoringResults(ref=ref, cur=cur, drift=drift, perf=perf, decision=decision)
    result = monitor_steps.report(config, settings, run, results, url)
    log.info(
        "decision %s; report %s; MLflow run %s", result["decision"], result["report_html"], result["mlflow_run_id"]
    )
    return result


def trigger(config: ModelConfig, cur: CurrentWindow, drift: DriftResult, decision: DecisionDict) -> DriftEventExtra:
    """Emit the drift event (which schedules retrain_<model>) only when the decision says so.

    The `model_monitoring` row is marked emitted last: if anything before fails, the task fails,
    no event goes out and the cooldown does not count this retrain.
    """
    context, settings, run = _context(config)
    if not decision["retrain"]:
        why = decision["blocked_by"] or "no threshold crossed"
        raise AirflowSkipException(f"no drift event: {why}")
    extra: DriftEventExtra = {
        "reason": "; ".join(decision["reasons"]),
        "window_end": cur["window"]["end"],
        "drift_share": drift["drift_share"],
        "drifted_columns": drift["drifted_columns"],
        "prediction_psi": drift["prediction_psi"],
        "monitor_run_id": run.run_id,
        "report": drift["report_html"],
    }
    context["outlet_events"][drift_asset(config.name)].extra = dict(extra)
    links = {"Evidently report": drift["report_html"], "Airflow run": run.airflow_url(settings)}
    alert = drift_alert(config.name, dict(decision), dict(drift), links, gate_key(run.dag_id, run.run_id, "drift"))
    deliver_alert(alert, config.alerts.slack_conn_id, settings)
    monitor_steps.mark_triggered(config, cur, warehouse_url(config.source.conn_id, settings))
    log.info("drift event emitted on %s: %s", drift_asset(config.name).name, extra["reason"])
    return extra
