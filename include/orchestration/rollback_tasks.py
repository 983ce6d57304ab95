"""Task bodies that roll `champion` back: `rollback_<model>`'s one task, and `auto_rollback` of
`monitor_<model>`. A rollback that happened succeeds (its outlet emits `<model>_champion`) and
alerts; a refused one fails with the reason; no automatic rollback skips with the reason."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.orchestration.alerting import deliver_alert
from include.orchestration.runtime import step_context
from include.retraining.config import ModelConfig
from include.retraining.monitor import CurrentWindow, Reference
from include.retraining.rollback import RollbackRefused, RollbackRequest, RolledBack, roll_back, rolled_back_alert
from include.retraining.runs import StepContext

log = logging.getLogger(__name__)


def _announce(ctx: StepContext, done: RolledBack) -> dict[str, Any]:
    if done.reconciled:
        log.warning("completed a lost move first: %s", done.reconciled)
    if done.overrode:
        log.warning("forced past the gate: %s", done.overrode)
    log.info("%s: champion %s -> %s by %s (log row %s)", done.action, done.from_version, done.to_version,
             done.actor, done.log_id)  # fmt: skip
    deliver_alert(rolled_back_alert(ctx, done), ctx.config.alerts.slack_conn_id, ctx.settings)
    return done.to_xcom()


def rollback(config: ModelConfig) -> dict[str, Any]:
    """Move `champion` to the `to_version` param (default: previous_champion), for the `reason`
    param; `force: true` moves even to a version the gate blocked, an approver rejected or that was
    never champion (logged as forced_rollback)."""
    ctx = step_context(config, warehouse=True)
    params = get_current_context().get("params") or {}
    request = RollbackRequest(
        to_version=params.get("to_version") or None,
        reason=str(params.get("reason") or ""),
        force=params.get("force") is True,
    )
    try:
        done = roll_back(ctx, request)
    except RollbackRefused as exc:
        raise AirflowFailException(f"rollback refused: {exc}") from None
    return _announce(ctx, done)


def auto_rollback(config: ModelConfig, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """Roll back when the champion does significantly worse than previous_champion on matured labels."""
    from include.retraining.monitor import auto_rollback as check_and_roll_back
    from include.retraining.rollback import NoRollback, RollbackHeld, rolled_back_by_this_run

    if not config.monitor.auto_rollback:
        raise AirflowSkipException(f"model {config.name!r}: monitor.auto_rollback is off")
    ctx = step_context(config, warehouse=True)
    done = rolled_back_by_this_run(ctx)  # a retry: the first try may have died before its alert was recorded
    if done is not None:
        return _announce(ctx, done)
    try:
        done = check_and_roll_back(ctx, Reference.from_xcom(ref), CurrentWindow.from_xcom(cur))
    except RollbackHeld as exc:
        deliver_alert(exc.alert, config.alerts.slack_conn_id, ctx.settings)
        raise AirflowSkipException(str(exc)) from None
    except (NoRollback, RollbackRefused) as exc:
        raise AirflowSkipException(str(exc)) from None
    return _announce(ctx, done)
