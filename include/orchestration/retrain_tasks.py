"""Task bodies of retrain_<model>: build the step context, run one retraining step, and turn
its typed errors into the Airflow outcome an operator expects (fail without retry, skip), with
an alert where a gate stopped the run.

Step results are typed (`retrain_contracts`); they become plain dicts only here, at the XCom
boundary, so the UI plugin reads the same keys."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.runtime import step_context
from include.retraining import retrain_steps
from include.retraining.alerts import extraction_stopped_alert, validation_failed_alert
from include.retraining.config import ModelConfig
from include.retraining.retrain_contracts import Evaluated, Extracted, Trained
from include.retraining.training import TrainingDataError
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def extract(config: ModelConfig) -> dict[str, Any]:
    ctx = step_context(config, warehouse=True)
    log.info("model %s, window end %s, trigger %s", config.name, ctx.run.window_end.isoformat(), ctx.run.trigger)
    try:
        extracted = retrain_steps.extract(ctx)
    except (TrainingDataError, WarehouseError) as exc:
        # Not transient: an empty window or a missing table/column does not fix itself on retry.
        alert = extraction_stopped_alert(
            config.name, str(exc), {"Airflow run": ctx.run_url}, f"{ctx.run.dedup_prefix}/extract"
        )
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    log.info("snapshot %s: %d rows, hash %s", extracted.path, extracted.rows, extracted.content_hash)
    return dict(extracted.to_xcom())


def validate(config: ModelConfig, extracted: dict[str, Any]) -> dict[str, Any]:
    from include.retraining.validation import DataValidationError

    ctx = step_context(config)
    try:
        report = retrain_steps.validate(ctx, Extracted.from_xcom(extracted))
    except DataValidationError as exc:
        links = {"Airflow run": ctx.run_url, "GX result": exc.report.html_path or ""}
        alert = validation_failed_alert(config.name, exc.report.summary(), links, f"{ctx.run.dedup_prefix}/validate")
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    log.info("validation passed: %d expectations; result %s", report["evaluated"], report["html_path"])
    return report


def train(config: ModelConfig, extracted: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config)
    try:
        trained = retrain_steps.train(ctx, Extracted.from_xcom(extracted))
    except TrainingDataError as exc:
        raise AirflowFailException(str(exc)) from None
    verb = "reused finished run" if trained.reused else "logged run"
    log.info("%s %s, model %s", verb, trained.run_id, trained.model_uri)
    return trained.to_xcom()


def evaluate(config: ModelConfig, extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config)
    try:
        evaluated, alert = retrain_steps.evaluate(ctx, Extracted.from_xcom(extracted), Trained.from_xcom(trained))
    except TrainingDataError as exc:  # a one-class holdout: a retry sees the same rows
        raise AirflowFailException(str(exc)) from None
    if alert is not None:
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    log.info("champion: %s, compared with %s", evaluated.champion_version, evaluated.compared_with)
    log.info("gate: %s - %s", "promote" if evaluated.promote else "no promotion", evaluated.reason)
    return evaluated.to_xcom()


def promote(
    config: ModelConfig, extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]
) -> dict[str, Any]:
    ctx = step_context(config)
    promotion, alert = retrain_steps.promote_or_block(
        ctx, Extracted.from_xcom(extracted), Trained.from_xcom(trained), Evaluated.from_xcom(evaluated)
    )
    log.info("%s: version %s - %s", promotion.action.value, promotion.version, promotion.reason)
    if alert is not None:
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    if not promotion.action.changed_champion:
        raise AirflowSkipException(f"{promotion.action.value}: {promotion.reason}")
    return promotion.to_xcom()
