"""Task bodies of monitor_<model>: Airflow context in, one monitoring step, Airflow outcome out."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.assets import drift_asset
from include.orchestration.runtime import run_info, warehouse_url
from include.retraining import monitor_steps
from include.retraining.alerts import drift_alert, extraction_stopped_alert
from include.retraining.config import ModelConfig
from include.retraining.settings import load_settings
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def _skip_on(exc: monitor_steps.MonitoringSkipped) -> AirflowSkipException:
    log.warning("skipped: %s", exc)
    return AirflowSkipException(str(exc))


def reference(config: ModelConfig) -> dict[str, Any]:
    try:
        ref = monitor_steps.reference(config, load_settings())
    except monitor_steps.MonitoringSkipped as exc:
        raise _skip_on(exc) from None
    log.info("reference: champion version %s, training snapshot %s", ref["version"], ref["snapshot"])
    return ref


def current(config: ModelConfig) -> dict[str, Any]:
    settings, run = load_settings(), run_info(get_current_context(), config)
    try:
        cur = monitor_steps.current(config, settings, run, warehouse_url(config.source.conn_id, settings))
    except monitor_steps.MonitoringSkipped as exc:
        raise _skip_on(exc) from None
    except WarehouseError as exc:
        alert = extraction_stopped_alert(
            config.name, str(exc), {"Airflow run": run.airflow_url(settings)}, f"{run.dag_id}/{run.run_id}/current"
        )
        deliver_alert(alert, config.alerts.slack_conn_id, settings)
        raise AirflowFailException(str(exc)) from None
    log.info(
        "current window %s: %d rows, %d with matured labels", cur["window"], cur["rows_current"], cur["rows_matured"]
    )
    return cur


def data_drift(config: ModelConfig, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    drift = monitor_steps.data_drift(config, load_settings(), ref, cur)
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


def performance(config: ModelConfig, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    perf = monitor_steps.performance(config, load_settings(), ref, cur)
    log.info("performance on matured labels: %s", perf)
    return perf


def decide(config: ModelConfig, drift: dict[str, Any], perf: dict[str, Any]) -> dict[str, Any]:
    context = get_current_context()
    settings, run = load_settings(), run_info(context, config)
    running = context["ti"].get_dr_count(dag_id=config.retrain_dag_id, states=["queued", "running"]) > 0
    decision = monitor_steps.decide(config, run, drift, perf, warehouse_url(config.source.conn_id, settings), running)
    log.info("decision: %s", decision)
    return decision


def report(
    config: ModelConfig,
    ref: dict[str, Any],
    cur: dict[str, Any],
    drift: dict[str, Any],
    perf: dict[str, Any],
    decision: dict[str, Any],
) -> dict[str, Any]:
    settings, run = load_settings(), run_info(get_current_context(), config)
    url = warehouse_url(config.source.conn_id, settings)
    result = monitor_steps.report(config, settings, run, ref, cur, drift, perf, decision, url)
    log.info(
        "decision %s; report %s; MLflow run %s", result["decision"], result["report_html"], result["mlflow_run_id"]
    )
    return result


def trigger(
    config: ModelConfig, cur: dict[str, Any], drift: dict[str, Any], decision: dict[str, Any]
) -> dict[str, Any]:
    """Emit the drift event (which schedules retrain_<model>) only when the decision says so."""
    context = get_current_context()
    settings, run = load_settings(), run_info(context, config)
    if not decision["retrain"]:
        why = decision["blocked_by"] or "no threshold crossed"
        raise AirflowSkipException(f"no drift event: {why}")
    extra = {
        "reason": "; ".join(decision["reasons"]),
        "window_end": cur["window"]["end"],
        "drift_share": drift["drift_share"],
        "drifted_columns": drift["drifted_columns"],
        "prediction_psi": drift["prediction_psi"],
        "monitor_run_id": run.run_id,
        "report": drift["report_html"],
    }
    context["outlet_events"][drift_asset(config.name)].extra = extra
    links = {"Evidently report": drift["report_html"], "Airflow run": run.airflow_url(settings)}
    deliver_alert(
        drift_alert(config.name, decision, drift, links, f"{run.dag_id}/{run.run_id}/drift"),
        config.alerts.slack_conn_id,
        settings,
    )
    log.info("drift event emitted on %s: %s", drift_asset(config.name).name, extra["reason"])
    return extra
