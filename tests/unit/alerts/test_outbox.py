"""The alert outbox: recorded first, delivered after, retried within bounds, never twice."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.alerts import Alert, DeliveryUnknown, NotDelivered, Outbox, deliver, flush, read_alerts
from include.retraining.alerts.outbox import MAX_ATTEMPTS

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Sink:
    """A destination that fails the first `failures` posts with `error`, then accepts."""

    def __init__(self, failures: int = 0, error: type[Exception] = NotDelivered) -> None:
        self.failures, self.error, self.calls, self.accepted = failures, error, 0, []

    def __call__(self, alert: Alert, conn_id: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"post {self.calls} refused")
        self.accepted.append(alert.dedup_key)
        return "slack"


def _alert(key: str = "retrain_churn/run1/validate", line: str = "3 expectations failed") -> Alert:
    return Alert("validation_failed", "churn", "churn: data validation failed", [line], dedup_key=key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Outbox:
    return Outbox(tmp_path / "alerts.jsonl", clock)


def test_an_alert_is_recorded_once_per_key_and_posted_once(outbox: Outbox) -> None:
    sink = Sink()

    first = deliver(outbox, _alert(), "slack_alerts", sink, sleep=lambda s: None)
    second = deliver(outbox, _alert(), "slack_alerts", sink, sleep=lambda s: None)

    (entry,) = read_alerts(outbox.path)
    assert (first, second) == ("delivered", "delivered")
    assert sink.accepted == ["retrain_churn/run1/validate"]
    assert entry["status"] == "delivered" and entry["attempts"] == 1 and entry["delivered_to"] == "slack"


def test_an_outage_keeps_the_alert_pending_and_a_later_call_delivers_it(outbox: Outbox, clock: Clock) -> None:
    down, pauses = Sink(failures=3), []

    status = deliver(outbox, _alert(), "slack_alerts", down, sleep=pauses.append)

    (entry,) = read_alerts(outbox.path)
    assert status == "pending" and entry["attempts"] == 3 and "refused" in entry["last_error"]
    assert pauses == [1.0, 2.0], "retried within the task with backoff"
    assert flush(outbox, down) == 0, "not due before its backoff has passed"
    clock.now += timedelta(minutes=5)
    other = deliver(outbox, _alert("monitor_churn/run9/drift"), "slack_alerts", down, sleep=lambda s: None)
    assert other == "delivered"
    assert sorted(down.accepted) == ["monitor_churn/run9/drift", "retrain_churn/run1/validate"]
    assert {a["status"] for a in read_alerts(outbox.path)} == {"delivered"}


def test_delivery_gives_up_after_max_attempts_and_keeps_the_record(outbox: Outbox, clock: Clock) -> None:
    never = Sink(failures=10**6)
    deliver(outbox, _alert(), "slack_alerts", never, sleep=lambda s: None)

    for _ in range(MAX_ATTEMPTS):
        clock.now += timedelta(hours=2)
        flush(outbox, never)

    (entry,) = read_alerts(outbox.path)
    assert entry["status"] == "failed" and entry["attempts"] == MAX_ATTEMPTS == never.calls
    assert entry["lines"] == ["3 expectations failed"]


def test_an_unknown_outcome_is_never_sent_again(outbox: Outbox, clock: Clock) -> None:
    timeout = Sink(failures=1, error=DeliveryUnknown)

    status = deliver(outbox, _alert(), "slack_alerts", timeout, sleep=lambda s: None)
    clock.now += timedelta(days=1)
    flush(outbox, timeout)

    (entry,) = read_alerts(outbox.path)
    assert status == "unconfirmed" and timeout.calls == 1 and entry["status"] == "unconfirmed"


def test_a_process_that_died_mid_post_leaves_the_alert_unconfirmed_not_resent(outbox: Outbox, clock: Clock) -> None:
    outbox.record(_alert(), "slack_alerts")
    assert outbox.claim("retrain_churn/run1/validate") is not None  # then the worker was killed
    sink = Sink()

    clock.now += timedelta(days=1)
    flush(outbox, sink)

    (entry,) = read_alerts(outbox.path)
    assert sink.calls == 0 and entry["status"] == "unconfirmed" and entry["attempts"] == 1


def test_a_torn_line_is_skipped_with_a_warning_and_later_records_stay_whole(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(outbox, _alert("a/1/validate"), "slack_alerts", Sink(), sleep=lambda s: None)
    with outbox.path.open("a") as handle:
        handle.write('{"event": "recorded", "key": "a/2/gate", "alert": {"kind": "gate_bl')

    with caplog.at_level(logging.WARNING):
        status = deliver(outbox, _alert("a/3/extract"), "slack_alerts", Sink(), sleep=lambda s: None)

    assert status == "delivered"
    assert [a["dedup_key"] for a in read_alerts(outbox.path)] == ["a/1/validate", "a/3/extract"]
    assert "torn" in caplog.text
    for line in outbox.path.read_text().splitlines()[-3:]:
        json.loads(line)


def test_records_written_before_the_outbox_still_read_as_delivered(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    legacy = {"recorded_at": "2026-01-01T00:00:00+00:00", "delivered_to": "slack", **_alert().to_dict()}
    path.write_text(json.dumps(legacy) + "\n")

    (entry,) = read_alerts(path)

    assert entry["status"] == "delivered" and entry["dedup_key"] == "retrain_churn/run1/validate"
