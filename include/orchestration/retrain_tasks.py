"""Task bodies of retrain_<model>: build the step context, run one retraining step, and turn
its typed errors into the Airflow outcome an operator expects (fail without retry, skip), with
an alert where a gate stopped the run.

Step results are typed (`retrain` and `promotion` contracts); they become plain dicts only here,
at the XCom boundary, so the UI plugin reads the same keys."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration import lineage
from include.orchestration.alerting import deliver_alert
from include.orchestration.runtime import step_context
from include.retraining import retrain as steps
from include.retraining.alerts import extraction_stopped_alert, validation_failed_alert
from include.retraining.config import ModelConfig, ModelConfigError
from include.retraining.learning import TrainingDataError
from include.retraining.promotion import Approval, Evaluated
from include.retraining.retrain import Extracted, Trained
from include.retraining.runs import StepContext
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def extract(config: ModelConfig) -> dict[str, Any]:
    ctx = step_context(config, warehouse=True)
    log.info("model %s, window end %s, trigger %s", config.name, ctx.run.window_end.isoformat(), ctx.run.trigger)
    try:
        extracted = steps.extract(ctx)
    except (TrainingDataError, WarehouseError) as exc:
        # Not transient: an empty window or a missing table/column does not fix itself on retry.
        alert = extraction_stopped_alert(
            config.name, str(exc), {"Airflow run": ctx.run_url}, f"{ctx.run.dedup_prefix}/extract"
        )
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    log.info("snapshot %s: %d rows, hash %s", extracted.path, extracted.rows, extracted.content_hash)
    table = config.source.table
    lineage.report(lambda: (lineage.source_table(config, ctx.warehouse, table), [lineage.snapshot(extracted.path)]))
    return extracted.to_xcom()


def validate(config: ModelConfig, extracted: dict[str, Any]) -> dict[str, Any]:
    from include.retraining.learning import DataValidationError

    # A model trained on a sample is validated on its whole window, by the warehouse.
    ctx = step_context(config, warehouse=bool(config.training.sample_rows))
    try:
        validated = steps.validate(ctx, Extracted.from_xcom(extracted))
    except DataValidationError as exc:
        links = {"Airflow run": ctx.run_url, "GX result": exc.report.html_path or ""}
        alert = validation_failed_alert(config.name, exc.report.summary(), links, f"{ctx.run.dedup_prefix}/validate")
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    log.info("validation passed: %d expectations; result %s", validated.evaluated, validated.html_path)
    return validated.to_xcom()


def train(config: ModelConfig, extracted: dict[str, Any]) -> dict[str, Any]:
    ctx = step_context(config)
    try:
        trained = steps.train(ctx, Extracted.from_xcom(extracted))
    except (TrainingDataError, ModelConfigError) as exc:
        # Neither fixes itself on retry: the window's rows, or the model file's estimator or trusted types.
        raise AirflowFailException(str(exc)) from None
    verb = "reused finished run" if trained.reused else "logged run"
    log.info("%s %s, model %s", verb, trained.run_id, trained.model_uri)
    lineage.report(lambda: ([lineage.snapshot(extracted["path"])], [lineage.logged_model(ctx, trained.run_id)]))
    return trained.to_xcom()


def evaluate(config: ModelConfig, extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    # Pooled evidence reads the promotion log (when the champion's tenure began) in the warehouse.
    ctx = step_context(config, warehouse=config.gate.pooled_windows > 1)
    try:
        evaluated, alert = steps.evaluate(ctx, Extracted.from_xcom(extracted), Trained.from_xcom(trained))
    except TrainingDataError as exc:  # a one-class holdout: a retry sees the same rows
        raise AirflowFailException(str(exc)) from None
    if alert is not None:
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    log.info("champion: %s, compared with %s", evaluated.champion_version, evaluated.compared_with)
    log.info("gate: %s - %s", "promote" if evaluated.promote else "no promotion", evaluated.reason)
    return evaluated.to_xcom()


def approval_request(
    config: ModelConfig, extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]
) -> str | None:
    """The approver's summary, after telling the approvers; None when there is nothing to approve."""
    from include.retraining import promotion

    ctx = step_context(config, warehouse=True)
    gate = Evaluated.from_xcom(evaluated)
    if not promotion.needs_approval(config, gate, ctx.run.dry_run):
        log.info("nothing to approve (dry run %s): %s", ctx.run.dry_run, gate.reason)
        return None
    window, run = Extracted.from_xcom(extracted), Trained.from_xcom(trained)
    approve_url = f"{ctx.run_url}/tasks/approve/required_actions"
    deliver_alert(promotion.requested_alert(ctx, approve_url), config.alerts.slack_conn_id, ctx.settings)
    links = promotion.links(ctx, window.window, run.experiment_id, run.run_id)
    return promotion.summary(config, window.window, window.rows, gate, links)


def promote(
    config: ModelConfig,
    extracted: dict[str, Any],
    trained: dict[str, Any],
    evaluated: dict[str, Any],
    answer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ctx = step_context(config, warehouse=True)
    approval = Approval.from_xcom(answer) if answer else None
    promotion, alert = steps.promote(
        ctx, Extracted.from_xcom(extracted), Trained.from_xcom(trained), Evaluated.from_xcom(evaluated), approval
    )
    log.info("%s: version %s - %s", promotion.action.value, promotion.version, promotion.reason)
    if alert is not None:
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    _prune_snapshots(ctx, extracted["path"])
    if not promotion.action.changed_champion:
        raise AirflowSkipException(f"{promotion.action.value}: {promotion.reason}")
    run_id = trained["run_id"]
    lineage.report(
        lambda: ([lineage.logged_model(ctx, run_id)], [lineage.registered_version(ctx, promotion.version, run_id)])
    )
    return promotion.to_xcom()


def _prune_snapshots(ctx: StepContext, current: str) -> None:
    """Housekeeping after the decision: a failure here never undoes or fails the promotion."""
    try:
        for path in steps.prune_reports(ctx):
            log.info("report retention: deleted %s", path)
    except Exception as exc:  # noqa: BLE001 - housekeeping; the next decision tries again
        log.warning("report retention skipped: %r", exc)
    try:
        deleted = steps.prune_snapshots(ctx, current)
    except Exception as exc:  # noqa: BLE001 - without the protected set, nothing is deleted
        log.warning("snapshot retention skipped, nothing deleted: %r", exc)
        return
    for path in deleted:
        log.info("snapshot retention: deleted %s", path)
