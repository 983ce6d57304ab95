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

from include.orchestration.alerting import deliver_alert
from include.orchestration.runtime import run_info, triggering_drift, warehouse_url
from include.retraining.alerts.outbox import gate_key
from include.retraining.common.settings import load_settings
from include.retraining.common.windows import as_utc
from include.retraining.config.model import ModelConfig
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.score import steps as score_steps
from include.retraining.score.contracts import NoChampion, ScoringPlan, ScoringResult, ShadowOutcome
from include.retraining.score.scoring import ScoringInputError
from include.retraining.tracking.loading import UnusableModelError
from include.retraining.warehouse.types import WarehouseError

log = logging.getLogger(__name__)


def scoring_run(config: ModelConfig, context: Any) -> RunInfo:
    """The run's identity; its window end is the moment the run scores up to (module docstring)."""
    run = run_info(context, config)
    asset_triggered = triggering_drift(context) is not None
    if asset_triggered and not (context.get("params") or {}).get("window_end"):
        return replace(run, window_end=as_utc(context["dag_run"].run_after), trigger="champion moved")
    return run


def _context(config: ModelConfig, warehouse: bool = False) -> StepContext:
    settings = load_settings()
    url = warehouse_url(config.source.conn_id, settings) if warehouse else ""
    return StepContext(
        config=config, settings=settings, run=scoring_run(config, get_current_context()), warehouse_url=url
    )


def plan(config: ModelConfig) -> ScoringPlan:
    ctx = _context(config)
    try:
        planned = score_steps.plan(ctx)
    except NoChampion as exc:
        raise AirflowSkipException(str(exc)) from None
    log.info(
        "scoring %s (trigger: %s): interval %s, champion v%s, challenger %s (shadow %s)",
        config.name,
        ctx.run.trigger,
        planned["interval"],
        planned["champion"],
        planned["challenger"] or "-",
        planned["shadow"],
    )
    return planned


def score(config: ModelConfig, planned: ScoringPlan) -> ScoringResult:
    """Read, score and replace the interval; bad input or an unusable champion alerts once and
    fails without retry (a rerun would meet the same input), with nothing written."""
    ctx = _context(config, warehouse=True)
    try:
        result = score_steps.score(ctx, planned, scored_at=datetime.now(UTC))
    except (ScoringInputError, WarehouseError, UnusableModelError) as exc:
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "score")
        deliver_alert(score_steps.scoring_stopped_alert(ctx, str(exc), key), config.alerts.slack_conn_id, ctx.settings)
        raise AirflowFailException(str(exc)) from None
    if result["shadow"] == ShadowOutcome.UNUSABLE:
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "shadow")
        alert = score_steps.shadow_unusable_alert(ctx, result["shadow_error"], key)
        deliver_alert(alert, config.alerts.slack_conn_id, ctx.settings)
    for part in result["scored"]:
        log.info(
            "%s v%s: %d rows; nulls per feature %s (scoring.nulls: %s); unseen categories %s",
            part["alias"],
            part["version"],
            part["rows"],
            part["nulls"] or "none",
            config.scoring.nulls if config.scoring else "impute",
            part["unseen"] or "none",
        )
    log.info("wrote %d rows to %s for interval %s", result["rows"], result["table"], result["interval"])
    return result
