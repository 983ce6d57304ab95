"""Task bodies of score_<model>: Airflow context in, one scoring step, Airflow outcome out.

The moment a run scores up to: the `window_end` param, else for a run started by the champion
asset (the alias moved) the time it was triggered, else the data interval end. The step snaps it
to the scoring cron's grid, so every kind of run scores whole grid intervals.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration import lineage
from include.orchestration.alerting import deliver_alert
from include.orchestration.runtime import run_info, step_context, triggering_drift
from include.retraining.alerts import gate_key
from include.retraining.common import as_utc
from include.retraining.config import ModelConfig
from include.retraining.lineage import LineageDataset
from include.retraining.runs import RunInfo, StepContext
from include.retraining.score import (
    NoChampion,
    ScoringInputError,
    ScoringPlan,
    ScoringResult,
    ShadowOutcome,
    scoring_source,
    scoring_stopped_alert,
    shadow_unusable_alert,
)
from include.retraining.score import (
    plan as plan_step,
)
from include.retraining.score import (
    score as score_step,
)
from include.retraining.tracking import UnusableModelError
from include.retraining.warehouse import WarehouseError

log = logging.getLogger(__name__)


def scoring_run(config: ModelConfig, context: Any) -> RunInfo:
    """The run's identity; its window end is the moment the run scores up to (module docstring)."""
    run = run_info(context, config)
    asset_triggered = triggering_drift(context) is not None
    if asset_triggered and not (context.get("params") or {}).get("window_end"):
        return replace(run, window_end=as_utc(context["dag_run"].run_after), trigger="champion moved")
    return run


def plan(config: ModelConfig) -> dict[str, Any]:
    ctx = step_context(config, run=scoring_run(config, get_current_context()))
    try:
        planned = plan_step(ctx)
    except NoChampion as exc:
        raise AirflowSkipException(str(exc)) from None
    log.info(
        "scoring %s (trigger: %s): interval %s, champion v%s, challenger %s (shadow %s)",
        config.name,
        ctx.run.trigger,
        planned.interval.to_dict(),
        planned.champion,
        planned.challenger or "-",
        planned.shadow.value,
    )
    return planned.to_xcom()


def score(config: ModelConfig, planned: dict[str, Any]) -> dict[str, Any]:
    """Read, score and replace the interval; bad input or an unusable champion alerts once and
    fails without retry (a rerun would meet the same input), with nothing written."""
    ctx = step_context(config, warehouse=True, run=scoring_run(config, get_current_context()))
    try:
        result = score_step(ctx, ScoringPlan.from_xcom(planned), scored_at=datetime.now(UTC))
    except (ScoringInputError, WarehouseError, UnusableModelError) as exc:
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "score")
        deliver_alert(scoring_stopped_alert(ctx, str(exc), key), config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    if result.shadow is ShadowOutcome.UNUSABLE:
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "shadow")
        deliver_alert(shadow_unusable_alert(ctx, result.shadow_error, key), config.alerts.slack_conn_id, ctx.settings)
    for part in result.scored:
        log.info(
            "%s v%s: %d rows; nulls per feature %s (scoring.nulls: %s); unseen categories %s",
            part.alias.value,
            part.version,
            part.rows,
            part.nulls or "none",
            config.scoring_or_defaults.nulls,
            part.unseen or "none",
        )
        if part.invalid:
            log.warning(
                "%s v%s: values not of their column's type, scored as nulls (scoring.nulls: impute), rows per "
                "feature %s; set scoring.nulls: fail to refuse such a window, or fix the upstream load",
                part.alias.value,
                part.version,
                part.invalid,
            )
    log.info("wrote %d rows to %s for interval %s", result.rows, result.table, result.interval.to_dict())
    lineage.report(lambda: _lineage(ctx, result))
    if result.pruned:
        days = config.retention.predictions_days
        log.info("deleted %d rows older than retention.predictions_days=%s from %s", result.pruned, days, result.table)
    return result.to_xcom()


def _lineage(ctx: StepContext, result: ScoringResult) -> tuple[list[LineageDataset], list[LineageDataset]]:
    """Read: the scoring source and each version that scored; written: the predictions table."""
    source = lineage.source_table(ctx.config, ctx.warehouse, scoring_source(ctx).table, labelled=False)
    versions = [lineage.model_version(ctx, part.version) for part in result.scored]
    return [*source, *versions], [lineage.predictions_table(ctx, result.table)]
