"""The `approve` task of retrain_<model> when the model file says `gate.approval: required`.

Airflow's human-in-the-loop operator (standard provider): the task parks in `awaiting_input` and
shows the approver the evaluation summary under Required Actions (Browse > Required Actions, or
the task's page); the answer (Approve or Reject, and who gave it) comes back through the UI or
the REST API (`PATCH .../taskInstances/approve/-1/hitlDetails`). No answer within
`gate.approval_timeout` hours: the scheduler answers the default, Reject, with no user, which
counts as a timeout. The task never skips anything itself: `promote` runs after it whatever the
answer, and a rejection or a timeout leaves the version `challenger` with an alert.

When the gate said no (or on a dry run) there is nothing to approve: the task returns at once.

`gate.approval: four_eyes`: an Approve by the user who triggered the run (Airflow's
`triggering_user_name` of a manual run) fails the task, so nothing is promoted; clear it to ask
again. Airflow's own `assigned_users` is an allow-list of who may answer, with no way to leave one
user out, so the rule is checked on the answer. The task's `execution_timeout` covers the whole
approval window (plus the usual task time), so no task-level clock ends the wait before
`gate.approval_timeout` does.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk.exceptions import AirflowFailException

from include.retraining.common import load_settings
from include.retraining.config import ModelConfig
from include.retraining.promotion import APPROVE, REJECT, TIMEOUT_DEFAULT, Approval, ApprovalDecision

log = logging.getLogger(__name__)

TASK_ID = "approve"


class ChampionApproval(HITLOperator):
    """Approve or reject a challenger that passed the gate; returns an `Approval` as a dict."""

    # The extract, train and evaluate results, as task inputs (XComArgs resolved before execute).
    template_fields = (*HITLOperator.template_fields, "gate_results")

    def __init__(self, *, retraining_config: ModelConfig, gate_results: Any, **kwargs: Any) -> None:
        super().__init__(
            subject=f"Promote the new {retraining_config.name} model to champion?",
            options=[APPROVE, REJECT],
            defaults=[TIMEOUT_DEFAULT],
            multiple=False,
            response_timeout=timedelta(hours=retraining_config.gate.approval_timeout),
            **kwargs,
        )
        self.retraining_config = retraining_config
        self.gate_results = gate_results

    def execute(self, context: Any) -> Any:
        from include.orchestration import retrain_tasks

        body = retrain_tasks.approval_request(self.retraining_config, *self.gate_results)
        if body is None:
            return Approval(ApprovalDecision.NOT_NEEDED).to_xcom()
        self.body = body
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from include.retraining.promotion import from_response

        if event.get("error_type") == "timeout":  # no default recorded: the same as the default
            answer = Approval(ApprovalDecision.TIMED_OUT)
        else:
            payload = super().execute_complete(context, event)
            answer = from_response(
                payload["chosen_options"],
                payload.get("responded_by_user"),
                payload.get("responded_at"),
                bool(event.get("timedout")),
            )
        log.info("approval of %s: %s by %s", self.retraining_config.name, answer.decision.value, answer.by)
        self._four_eyes(context, answer)
        return answer.to_xcom()

    def _four_eyes(self, context: Any, answer: Approval) -> None:
        from include.orchestration.runtime import triggering_user
        from include.retraining.promotion import self_approval

        refused = self_approval(self.retraining_config, answer, triggering_user(context["dag_run"]))
        if refused is not None:
            raise AirflowFailException(refused)


def approval_execution_timeout(config: ModelConfig) -> timedelta:
    """The approval window plus the usual task time: the wait is bounded by `gate.approval_timeout`
    alone, whichever way Airflow counts a parked task's time against `execution_timeout`."""
    return timedelta(hours=config.gate.approval_timeout) + load_settings().task_timeout


def approval_task(config: ModelConfig, extracted: Any, trained: Any, evaluated: Any) -> ChampionApproval:
    """The `approve` task of a model whose gate requires approval, fed the gate's inputs and result."""
    return ChampionApproval(
        task_id=TASK_ID,
        retraining_config=config,
        gate_results=[extracted, trained, evaluated],
        execution_timeout=approval_execution_timeout(config),
        doc_md=(
            "Waits for a person to approve the challenger the gate passed (Required Actions). "
            "Approve promotes; Reject or no answer in time leaves it `challenger` and alerts."
        ),
    )
