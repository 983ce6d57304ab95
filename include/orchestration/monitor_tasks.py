"""Task bodies of monitor_<model>: Airflow context in, one monitoring step, Airflow outcome out.

Each task hands the next a typed result (`include.retraining.monitor`'s contracts), which
crosses XCom as a plain dict (`to_xcom`) and is parsed back once (`from_xcom`).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.assets import drift_asset
from include.orchestration.runtime import step_context
from include.retraining import monitor as steps
from include.retraining.alerts import drift_alert, extraction_stopped_alert, gate_key
from include.retraining.config import ModelConfig
from include.retraining.degradation import degradation_alerts
from include.retraining.drift import DriftDecision
from include.retraining.monitor import (
    ChampionUnusable,
    CurrentWindow,
    DriftResult,
    MonitoringResults,
    MonitoringSkipped,
    Performance,
    Reference,
    SeasonalWindow,
)
from include.retraining.runs import StepContext
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def _skip_on(exc: MonitoringSkipped, ctx: StepContext) -> AirflowSkipException:
    """The skip that ends the run with its reason; an unusable champion also alerts (once per run)."""
    log.warning("skipped: %s", exc)
    if isinstance(exc, ChampionUnusable):
        alert = exc.to_alert({"Airflow run": ctx.run_url}, gate_key(ctx.run.dag_id, ctx.run.run_id, exc.reason))
        deliver_alert(alert, ctx.config.alerts.slack_conn_id, ctx.settings)
    return AirflowSkipException(str(exc))


def reference(config: ModelConfig) -> dict[str, Any]:
    ctx = step_context(config)
    try:
        ref = steps.reference(ctx)
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    log.info("reference: champion v%s, reference sample %s, features %s", ref.version, ref.snapshot, ref.features)
    return ref.to_xcom()


def current(config: ModelConfig, ref: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config, warehouse=True)
    try:
        cur = steps.current(ctx, Reference.from_xcom(ref))
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    except WarehouseError as exc:
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "current")
        alert = extraction_stopped_alert(config.name, str(exc), {"Airflow run": ctx.run_url}, key)
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    log.info(
        "current window %s: %d rows, %d with matured labels", cur.window.to_dict(), cur.rows_current, cur.rows_matured
    )
    return cur.to_xcom()


def seasonal_reference(config: ModelConfig, cur: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config, warehouse=config.trigger.seasonal_reference != "none")
    seasonal = steps.seasonal_reference(ctx, CurrentWindow.from_xcom(cur))
    log.info(
        "seasonal reference %s: window %s, %d rows %s",
        seasonal.mode,
        seasonal.window.to_dict() if seasonal.window else None,
        seasonal.rows,
        seasonal.note or seasonal.path or "",
    )
    return seasonal.to_xcom()


def data_drift(
    config: ModelConfig, ref: dict[str, Any], cur: dict[str, Any], seasonal: dict[str, Any]
) -> dict[str, Any]:
    ctx = step_context(config)
    try:
        drift = steps.data_drift(
            ctx, Reference.from_xcom(ref), CurrentWindow.from_xcom(cur), SeasonalWindow.from_xcom(seasonal)
        )
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    summary = drift.summary
    log.info(
        "data drift: %d of %d features drifted (share %.2f): %s; prediction PSI %.3f; report %s",
        len(summary.drifted_columns),
        len(summary.columns),
        summary.drift_share,
        summary.drifted_columns,
        drift.prediction_psi,
        drift.report_html,
    )
    log.info("trigger policy counts: %s", drift.evidence.drifted or "none")
    if drift.estimate is not None:
        log.info("%s", drift.estimate.describe())
    return drift.to_xcom()


def performance(config: ModelConfig, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config)
    try:
        perf = steps.performance(ctx, Reference.from_xcom(ref), CurrentWindow.from_xcom(cur))
    except MonitoringSkipped as exc:
        raise _skip_on(exc, ctx) from None
    log.info("performance on matured labels: %s", perf.to_xcom())
    return perf.to_xcom()


def decide(config: ModelConfig, drift: dict[str, Any], perf: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config, warehouse=True)
    ti = get_current_context()["ti"]
    running = ti.get_dr_count(dag_id=config.retrain_dag_id, states=["queued", "running"]) > 0
    decision = steps.decide(ctx, DriftResult.from_xcom(drift), Performance.from_xcom(perf), running)
    log.info("decision: %s", decision.to_dict())
    return decision.to_dict()


def report(
    config: ModelConfig,
    ref: dict[str, Any],
    cur: dict[str, Any],
    drift: dict[str, Any],
    perf: dict[str, Any],
    decision: dict[str, Any],
) -> dict[str, Any]:
    ctx = step_context(config, warehouse=True)
    results = MonitoringResults(
        ref=Reference.from_xcom(ref),
        cur=CurrentWindow.from_xcom(cur),
        drift=DriftResult.from_xcom(drift),
        perf=Performance.from_xcom(perf),
        decision=DriftDecision.from_dict(decision),
    )
    reported = steps.report(ctx, results)
    log.info(
        "decision %s; report %s; MLflow run %s", reported.decision.value, reported.report_html, reported.mlflow_run_id
    )
    # Raised after the row is written; each names its episode, so the outbox sends it once.
    links = {"Evidently report": results.drift.report_html, "Airflow run": ctx.run_url}
    for alert in degradation_alerts(ctx, results, links):
        log.info("%s: episode %s (the outbox sends each episode's alert once)", alert.kind, alert.dedup_key)
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    return reported.to_xcom()


def trigger(
    config: ModelConfig, cur: dict[str, Any], drift: dict[str, Any], decision: dict[str, Any]
) -> dict[str, Any]:
    """Emit the drift event (which schedules retrain_<model>) only when the decision says so.

    The `model_monitoring` row is marked emitted last: if anything before fails, the task fails,
    no event goes out and the cooldown does not count this retrain.
    """
    said = DriftDecision.from_dict(decision)
    if not said.retrain:
        raise AirflowSkipException(f"no drift event: {said.blocked_by or 'no threshold crossed'}")
    ctx = step_context(config, warehouse=True)
    window, found = CurrentWindow.from_xcom(cur), DriftResult.from_xcom(drift)
    event = steps.drift_event(ctx, window, found, said)
    get_current_context()["outlet_events"][drift_asset(config.name)].extra = event.to_extra()
    links = {"Evidently report": found.report_html, "Airflow run": ctx.run_url}
    key = gate_key(ctx.run.dag_id, ctx.run.run_id, "drift")
    deliver_alert(
        drift_alert(config.name, said.to_dict(), drift, links, key), config.alerts.slack_conn_id, ctx.settings
    )
    steps.mark_triggered(ctx, window)
    log.info("drift event emitted on %s: %s", drift_asset(config.name).name, event.reason)
    return event.to_extra()


def verify_promotion(config: ModelConfig, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """The champion's promotion checked on matured labels: a row of promotion_outcomes, an alert
    when it regressed; skipped with the reason when there is nothing to verify on this window."""
    ctx = step_context(config, warehouse=True)
    try:
        row, alert = steps.verify_promotion(ctx, Reference.from_xcom(ref), CurrentWindow.from_xcom(cur))
    except steps.NothingToVerify as exc:
        raise AirflowSkipException(str(exc)) from None
    log.info("promotion %s: %s: %s", row.promotion_id, row.verdict, steps.verification_summary(row))
    if alert is not None:
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    return {"promotion_id": row.promotion_id, "verdict": row.verdict, "bound_held": row.bound_held}


def canary(config: ModelConfig, cur: dict[str, Any]) -> dict[str, Any]:
    """The canary settled on matured labels: promoted (success, `champion` moved), or ended (an
    alert, once) or waiting, both skipped with the reason, as is a run with no canary."""
    from include.retraining.promotion import CanaryOutcome, NoCanary, settle_canary_window

    ctx = step_context(config, warehouse=True)
    window = CurrentWindow.from_xcom(cur)
    try:
        result = settle_canary_window(ctx, window.served_matured, window.matured_window)
    except NoCanary as exc:
        raise AirflowSkipException(str(exc)) from None
    log.info("canary of version %s: %s: %s", result.version, result.outcome.value, result.reason)
    if result.alert is not None:
        deliver_alert(result.alert, config.alerts.slack_conn_id, ctx.settings)
    if result.outcome is not CanaryOutcome.PROMOTED:  # success only when champion moved (its asset event)
        raise AirflowSkipException(f"canary of version {result.version} {result.outcome.value}: {result.reason}")
    return result.to_xcom()
