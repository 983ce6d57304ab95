"""A task process SIGKILLed mid-task (OOM killer, lost node): nothing half-done is taken for
done, and the rerun completes without a second alert or a second model version."""

from __future__ import annotations

import pytest

from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import (
    SlackStub,
    model_aliases,
    recorded_alerts,
    sigkill_when,
    start_dag_run_process,
    wait_until,
)

pytestmark = pytest.mark.reliability


def test_sigkill_while_posting_the_gate_alert_loses_nothing_and_posts_once(world: World, slack: SlackStub) -> None:
    # Slack holds the post, so the kill lands after the alert was handed over, before its answer.
    slack.mode, slack.stall_s = "timeout", 12.0
    child = start_dag_run_process("retrain_churn", NEXT_RUN, log=world.data_dir / "killed-run.log")

    sigkill_when(child, lambda: len(slack.attempts) >= 1, timeout_s=300)

    assert model_aliases() == {"champion": "1", "challenger": "2"}
    (alert,) = recorded_alerts()
    assert alert["kind"] == "gate_blocked", "the alert was recorded before it was posted"
    assert alert["status"] == "unconfirmed"

    slack.mode = "ok"
    again = run_dag("retrain_churn", NEXT_RUN)

    assert again["promote"] == "skipped" and "failed" not in again.values()
    assert model_aliases() == {"champion": "1", "challenger": "2"}
    wait_until(lambda: len(slack.accepted) == 1, 15, "the held post to land")
    assert len(slack.attempts) == 1, f"posted again: {recorded_alerts()}"
    assert len(recorded_alerts()) == 1
