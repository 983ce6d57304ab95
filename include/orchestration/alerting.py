"""Alert delivery through Airflow's Slack provider, behind the outbox of `include.retraining.alerts`.

`deliver_alert` records the alert in the outbox first, then posts it (and any alert an earlier
task could not deliver) with `SlackWebhookHook`; it never raises for a Slack problem, so a Slack
outage never changes a task's outcome. `FailureAlert` is every task's `on_failure_callback`,
`flush_alerts` its `on_success_callback`.
"""

from __future__ import annotations

import http.client
import logging
from typing import TYPE_CHECKING, Any
from urllib.error import URLError
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from include.retraining.alerts import (
    DELIVERED,
    FAILED,
    UNCONFIRMED,
    Alert,
    DeliveryUnknown,
    NotDelivered,
    OutboxUnavailable,
    error_summary,
    gate_key,
)
from include.retraining.common import Settings, load_settings

if TYPE_CHECKING:
    from include.retraining.alerts import Outbox

log = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS = 10
FILE_ONLY = "file"  # no Slack connection: the outbox is the destination (the name kept from the file outbox)


def send_to_slack(alert: Alert, conn_id: str) -> str:
    """One post, no retries inside the client (the outbox owns retrying); where it went.

    An error before the request was fully sent (refused, no route, DNS) or an error answer is
    `NotDelivered`; a timeout or a dropped connection while waiting for the answer is
    `DeliveryUnknown`, since Slack may have accepted the post.
    """
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

    if not conn_id:
        return FILE_ONLY
    hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=SLACK_TIMEOUT_SECONDS, retry_handlers=[])
    try:
        hook.send(text=alert.text())
    except AirflowNotFoundException:
        log.warning("no Slack connection %r: the alert is kept in the outbox only", conn_id)
        return FILE_ONLY
    except URLError as exc:  # urllib wraps errors raised while connecting and sending
        raise NotDelivered(f"Slack connection {conn_id!r} not reached: {exc.reason}") from None
    except AirflowException as exc:  # the provider's "Status Code: N" for an error answer
        raise NotDelivered(f"Slack connection {conn_id!r} refused the post: {exc}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise DeliveryUnknown(f"no answer from Slack connection {conn_id!r} after sending: {exc!r}") from None
    return "slack"


def alert_outbox(settings: Settings | None = None) -> Outbox:
    """The outbox (table `alert_outbox`) in the database `alerts_database` names; an alerts file
    of an earlier release is imported on first use."""
    from include.orchestration.runtime import alerts_database
    from include.retraining.alerts import Outbox

    settings = settings or load_settings()
    return Outbox(alerts_database(settings), legacy_file=settings.alerts_file, retention=settings.alerts_retention)


def deliver_alert(alert: Alert, conn_id: str, settings: Settings) -> str:
    """Record, then deliver; the alert's status (delivered, pending, failed or unconfirmed).

    If the record cannot be written (the pipeline database unreachable, read-only or full), the
    alert goes to the task log at ERROR level and straight to Slack; either way the task's
    outcome stays its own.
    """
    from include.retraining.alerts import deliver

    log.warning("ALERT %s\n%s", alert.kind, alert.text())
    try:
        outbox = alert_outbox(settings)
        return deliver(outbox, alert, conn_id, send_to_slack)
    except (OutboxUnavailable, OSError, ValueError) as exc:  # ValueError: retraining_db unusable
        if _in_outbox(settings, alert.dedup_key):
            log.error("alert %s is recorded, but its delivery state could not be written: %s", alert.dedup_key, exc)
            return UNCONFIRMED
        log.error("alert %s could not be recorded in the outbox (%s); posting it directly", alert.dedup_key, exc)
    try:
        send_to_slack(alert, conn_id)
    except Exception as post_error:  # noqa: BLE001 - never change the task's outcome
        log.error("alert %s was not delivered either: %s", alert.dedup_key, post_error)
        return FAILED
    return DELIVERED


def flush_alerts(context: Any = None) -> None:
    """`on_success_callback` of every task: post the alerts earlier tasks could not (those whose
    backoff has passed), so a Slack outage is repaired by the next task of any DAG."""
    from include.retraining.alerts import flush

    try:
        delivered = flush(alert_outbox(), send_to_slack)
    except (OutboxUnavailable, OSError) as exc:
        log.warning("alert outbox not readable: %s", exc)
        return
    if delivered:
        log.info("delivered %d alert(s) an earlier task could not", delivered)


def _in_outbox(settings: Settings, key: str) -> bool:
    try:
        return alert_outbox(settings).entry(key) is not None
    except (OutboxUnavailable, OSError, ValueError):
        return False


def task_failed_alert(model: str, context: Any, settings: Settings) -> Alert:
    ti = context["ti"]
    dag_id, run_id, task_id = ti.dag_id, ti.run_id, ti.task_id
    error = context.get("exception")  # the task log has its traceback whole; the alert a summary
    log_url = (
        f"{settings.airflow_base_url}/dags/{quote(dag_id)}/runs/{quote(run_id)}/tasks/{quote(task_id)}"
        f"?try_number={getattr(ti, 'try_number', 1)}"
    )
    lines = [
        f"Task `{task_id}` of `{dag_id}` failed (run {run_id}, try {getattr(ti, 'try_number', '?')}).",
        f"Error: {error_summary(error)}",
        "Read the log, fix the cause, then clear the task.",
    ]
    key = f"{gate_key(dag_id, run_id, task_id)}/failed/{getattr(ti, 'try_number', 1)}"
    title = f"{model}: {dag_id}.{task_id} failed"
    return Alert("task_failed", model, title, lines, {"Log": log_url}, {}, key)


class FailureAlert(BaseNotifier):
    """`on_failure_callback` of every task: one alert naming the model, DAG, task, error and log.

    A gate that already alerted for this task in this run (validation, extraction) has said why;
    its failure is not alerted a second time.
    """

    def __init__(self, model: str, conn_id: str) -> None:
        super().__init__()
        self.model, self.conn_id = model, conn_id

    def notify(self, context: Any) -> None:
        settings = load_settings()
        ti = context["ti"]
        gate = gate_key(ti.dag_id, ti.run_id, ti.task_id)
        if _in_outbox(settings, gate):
            log.info("task %s already alerted as a gate (%s); no second alert", ti.task_id, gate)
            return
        deliver_alert(task_failed_alert(self.model, context, settings), self.conn_id, settings)
