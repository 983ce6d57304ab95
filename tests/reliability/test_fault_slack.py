"""Slack down or slow: the alert is recorded once and never lost or posted twice, and the run
ends exactly as it would with Slack up (review H1)."""

from __future__ import annotations

import pytest

from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import SlackStub, model_aliases, recorded_alerts, wait_until

pytestmark = pytest.mark.reliability

TRAINED = {"extract": "success", "validate": "success", "train": "success", "evaluate": "success"}
# The window after the champion's: an equally good challenger, which the paired gate blocks.
BLOCKED = {**TRAINED, "promote": "skipped"}


def test_slack_answering_500_keeps_the_gate_alert_and_the_skip(world: World, slack: SlackStub) -> None:
    slack.mode = "500"

    states = run_dag("retrain_churn", NEXT_RUN)

    assert states == BLOCKED, "a Slack error must not turn a blocked gate into a failed run"
    assert model_aliases() == {"champion": "1", "challenger": "2"}
    (alert,) = recorded_alerts()
    assert alert["kind"] == "gate_blocked" and alert["status"] in ("pending", "failed")
    assert slack.attempts and not slack.accepted

    slack.mode = "ok"
    again = run_dag("retrain_churn", NEXT_RUN)

    assert again == BLOCKED
    assert model_aliases() == {"champion": "1", "challenger": "2"}
    assert len(recorded_alerts()) == 1, "the rerun decides nothing new and alerts nobody"
    assert len(slack.accepted) <= 1


def test_slack_timing_out_keeps_the_validation_alert_and_never_posts_it_twice(world: World, slack: SlackStub) -> None:
    # A correct load that the model file now calls broken: the suite fails on monthly_charges.
    world.write_model(validation={"ranges": {"monthly_charges": [0, 10]}})
    slack.mode, slack.stall_s = "timeout", 12.0  # longer than the 10 s the pipeline waits

    states = run_dag("retrain_churn", NEXT_RUN)

    assert states["validate"] == "failed" and states["train"] == "upstream_failed"
    assert model_aliases() == {"champion": "1"}
    (alert,) = recorded_alerts()
    assert alert["kind"] == "validation_failed" and "monthly_charges" in " ".join(alert["lines"])
    assert alert["status"] == "unconfirmed", "a timeout after sending may have reached Slack: never re-sent"

    world.write_model()
    slack.mode = "ok"
    again = run_dag("retrain_churn", NEXT_RUN)

    assert again == BLOCKED
    wait_until(lambda: len(slack.accepted) == 2, 15, "the slow post to land")
    kinds = [a["kind"] for a in recorded_alerts()]
    assert kinds == ["validation_failed", "gate_blocked"]
    assert len(slack.attempts) == 2, "the unconfirmed alert was posted again"
    assert model_aliases() == {"champion": "1", "challenger": "2"}
