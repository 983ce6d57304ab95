"""The approval step on real parts: retrain_churn with `gate.approval: required` (and `four_eyes`)
run with `dag.test()`; its `approve` task parks in `awaiting_input`, and a second thread answers it through
Airflow's own HITL API handler (the code behind `PATCH .../hitlDetails`, as the UI calls it) or
lets the scheduler's timeout sweep answer, as the scheduler would."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from include.orchestration.alerting import alert_outbox
from include.retraining.alerts import read_alerts
from include.retraining.common import load_settings
from include.retraining.tables import history
from tests.support import UTC, load_weeks, pipeline_db, run_dag

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
RUN_AT = START + timedelta(weeks=10)
DAG_ID = "retrain_churn"


def _parked_task_instance(run_over: threading.Event):
    """The parked approve task, however long the run takes to get there (no wall-clock deadline:
    on a loaded machine extract, validate and train can take minutes)."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    while not run_over.is_set():
        with create_session() as session:
            ti = (
                session.query(TaskInstance)
                .filter_by(dag_id=DAG_ID, task_id="approve", state=TaskInstanceState.AWAITING_INPUT)
                .first()
            )
            if ti is not None:
                return ti.run_id, ti.trigger_timeout
        run_over.wait(0.5)
    raise TimeoutError("the run ended and its approve task never waited for input")


def _respond(run_id: str, option: str, user: str) -> None:
    """What the Required Actions page sends: Airflow's own handler, as that user."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(
            dag_id=DAG_ID,
            dag_run_id=run_id,
            task_id="approve",
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
            user=SimpleAuthManagerUser(username=user, role="op"),
            session=session,
        )


def _sweep_timeouts() -> None:
    """One pass of the scheduler's AWAITING_INPUT timeout sweep."""
    import logging

    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    class _Runner:
        log = logging.getLogger("scheduler")

    SchedulerJobRunner.check_awaiting_input_timeouts(_Runner())


class Approver(threading.Thread):
    """Waits for the run to ask, then answers `option` as `user`, or (None) lets it time out."""

    def __init__(self, option: str | None, user: str = "alice") -> None:
        super().__init__(daemon=True)
        self.option, self.user, self.error = option, user, None
        self.asked_at: float | None = None
        self.run_over = threading.Event()

    def run(self) -> None:
        try:
            run_id, timeout_at = _parked_task_instance(self.run_over)
            self.asked_at = time.monotonic()
            if self.option is not None:
                _respond(run_id, self.option, self.user)
                return
            time.sleep(max(0.0, (timeout_at - datetime.now(UTC)).total_seconds()) + 0.5)
            _sweep_timeouts()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def _run_with(approver: Approver, run_at: datetime) -> dict[str, str]:
    approver.start()
    try:
        states = run_dag(DAG_ID, run_at)
    finally:
        approver.run_over.set()
    approver.join(10)
    assert approver.error is None, approver.error
    assert approver.asked_at is not None, "the run never waited for a person"
    return states


def _aliases() -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    uri = load_settings().tracking_uri
    model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("churn")
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_a_run_waits_then_promotes_on_approve_and_blocks_on_reject_and_on_timeout(data_dir, models_dir) -> None:
    load_weeks(START, weeks=12, rows_per_week=400)
    # Every challenger passes the gate, so each run asks a person; a small model keeps runs short.
    # One holdout per decision: pooled, a challenger would also need its own estimate >= 0.
    small = {"params": {"max_iter": 30}}
    models_dir(gate={"approval": "required", "min_improvement": -1.0, "pooled_windows": 1}, training=small)

    approved = _run_with(Approver("Approve"), RUN_AT)

    assert approved["approve"] == "success" and approved["promote"] == "success"
    assert _aliases() == {"champion": "1"}

    rejected = _run_with(Approver("Reject", user="bob"), RUN_AT + timedelta(weeks=1))

    assert rejected["approve"] == "success" and rejected["promote"] == "skipped"
    assert _aliases() == {"champion": "1", "challenger": "2"}

    timeout = {"approval": "required", "min_improvement": -1.0, "pooled_windows": 1, "approval_timeout": 0.002}
    models_dir(gate=timeout, training=small)
    timed_out = _run_with(Approver(None), RUN_AT + timedelta(weeks=2))

    assert timed_out["approve"] == "success" and timed_out["promote"] == "skipped"
    assert _aliases() == {"champion": "1", "challenger": "3"}
    rows = history(pipeline_db(), "churn")
    assert [(r.action.value, r.from_version, r.to_version, r.actor) for r in rows] == [
        ("reject", "1", "3", "scheduler"),
        ("reject", "1", "2", "bob"),
        ("approve", None, "1", "alice"),
    ]
    assert rows[0].reason == "approval timed out: nobody answered within 0.002 h"
    assert rows[1].reason == "rejected by bob in the Airflow UI" and rows[1].figures["metric"] == "roc_auc"
    alerts = read_alerts(alert_outbox())
    kinds = [a["kind"] for a in alerts]
    assert kinds.count("approval_requested") == 3
    assert [a["lines"][0] for a in alerts if a["kind"] == "gate_blocked"] == [
        "Reason: rejected by bob in the Airflow UI",
        "Reason: approval timed out: nobody answered within 0.002 h",
    ]


def test_four_eyes_refuses_the_approval_of_the_user_who_triggered_the_run(data_dir, models_dir) -> None:
    load_weeks(START, weeks=12, rows_per_week=400)
    small = {"params": {"max_iter": 30}}
    models_dir(gate={"approval": "four_eyes", "min_improvement": -1.0}, training=small)

    # dag.test() triggers as user `dag_test`: that user approving its own run is refused.
    own = _run_with(Approver("Approve", user="dag_test"), RUN_AT)

    assert own["approve"] == "failed" and own["promote"] == "upstream_failed"
    assert history(pipeline_db(), "churn") == []
    (failed,) = [a for a in read_alerts(alert_outbox()) if a["kind"] == "task_failed"]
    text = " ".join(failed["lines"])
    assert "gate.approval is four_eyes and dag_test triggered this retrain run" in text
    assert "someone other than dag_test" in text

    other = _run_with(Approver("Approve", user="alice"), RUN_AT + timedelta(weeks=1))

    assert other["approve"] == "success" and other["promote"] == "success"
    assert _aliases() == {"champion": "1"}
    assert [(r.action.value, r.actor) for r in history(pipeline_db(), "churn")] == [("approve", "alice")]
