"""Task bodies: turn the Airflow context into plain arguments, run one pipeline step, and turn
its typed errors into the Airflow outcome an operator expects (fail without retry, skip), with
an alert where a gate stopped the run."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.runtime import run_info, warehouse_url
from include.retraining import pipeline
from include.retraining.alerts import extraction_stopped_alert, validation_failed_alert
from include.retraining.config import ModelConfig
from include.retraining.settings import load_settings
from include.retraining.training import TrainingDataError
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def _run(config: ModelConfig) -> pipeline.RunInfo:
    return run_info(get_current_context(), config)


def extract(config: ModelConfig) -> dict[str, Any]:
    settings, run = load_settings(), _run(config)
    log.info("model %s, window end %s, trigger %s", config.name, run.window_end.isoformat(), run.trigger)
    try:
        extracted = pipeline.extract(config, settings, run, warehouse_url(config.source.conn_id, settings))
    except (TrainingDataError, WarehouseError) as exc:
        # Not transient: an empty window or a missing table/column does not fix itself on retry.
        alert = extraction_stopped_alert(
            config.name, str(exc), {"Airflow run": run.airflow_url(settings)}, f"{run.dag_id}/{run.run_id}/extract"
        )
        deliver_alert(alert, config.alerts.slack_conn_id, settings)
        raise AirflowFailException(str(exc)) from None
    log.info("snapshot %s: %d rows, hash %s", extracted["path"], extracted["rows"], extracted["content_hash"])
    return extracted


def validate(config: ModelConfig, extracted: dict[str, Any]) -> dict[str, Any]:
    from include.retraining.validation import DataValidationError

    settings, run = load_settings(), _run(config)
    try:
        report = pipeline.validate(config, settings, extracted)
    except DataValidationError as exc:
        links = {"Airflow run": run.airflow_url(settings), "GX result": exc.report.html_path or ""}
        alert = validation_failed_alert(config.name, exc.report.summary(), links, f"{run.dag_id}/{run.run_id}/validate")
        deliver_alert(alert, config.alerts.slack_conn_id, settings)
        raise AirflowFailException(str(exc)) from None
    log.info("validation passed: %d expectations; result %s", report["evaluated"], report["html_path"])
    return report


def train(config: ModelConfig, extracted: dict[str, Any]) -> dict[str, Any]:
    settings, run = load_settings(), _run(config)
    try:
        trained = pipeline.train(config, settings, run, extracted)
    except TrainingDataError as exc:
        raise AirflowFailException(str(exc)) from None
    verb = "reused finished run" if trained["reused"] else "logged run"
    log.info("%s %s, model %s", verb, trained["run_id"], trained["model_uri"])
    return trained


def evaluate(config: ModelConfig, extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    settings = load_settings()
    try:
        evaluated = pipeline.evaluate(config, settings, extracted, trained)
    except TrainingDataError as exc:  # a one-class holdout: a retry sees the same rows
        raise AirflowFailException(str(exc)) from None
    log.info("champion: %s in %s", evaluated["champion_version"], settings.tracking_uri)
    log.info("gate: %s - %s", "promote" if evaluated["promote"] else "no promotion", evaluated["reason"])
    return evaluated


def promote(
    config: ModelConfig, extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]
) -> dict[str, Any]:
    settings, run = load_settings(), _run(config)
    outcome, alert = pipeline.promote_or_block(config, settings, run, extracted, trained, evaluated)
    log.info("%s: version %s - %s", outcome["action"], outcome.get("version"), outcome["reason"])
    if alert is not None:
        deliver_alert(alert, config.alerts.slack_conn_id, settings)
    if outcome["action"] in ("blocked", "unchanged") or outcome["action"].startswith("dry_run"):
        raise AirflowSkipException(f"{outcome['action']}: {outcome['reason']}")
    return outcome
