"""The alert outbox (table `alert_outbox`): recorded first, delivered after, retried within
bounds, never twice; on SQLite and on PostgreSQL (a database of its own per test)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.alerts import (
    MAX_ATTEMPTS,
    Alert,
    DeliveryUnknown,
    NotDelivered,
    Outbox,
    OutboxUnavailable,
    deliver,
    flush,
    import_legacy,
    read_alerts,
)
from include.retraining.warehouse import Database
from tests.support import fresh_mysql_database, fresh_postgres_databases

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
        self._lock = threading.Lock()

    def __call__(self, alert: Alert, conn_id: str) -> str:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise self.error(f"post {self.calls} refused")
            self.accepted.append(alert.dedup_key)
        return "slack"


def _alert(key: str = "retrain_churn/run1/validate", line: str = "3 expectations failed") -> Alert:
    return Alert("validation_failed", "churn", "churn: data validation failed", [line], dedup_key=key)


def _no_sleep(seconds: float) -> None:
    pass


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'pipeline.db'}")
    elif request.param == "postgres":
        with fresh_postgres_databases("alerts") as (url,):
            yield Database(url)
    else:
        with fresh_mysql_database("alerts") as url:
            yield Database(url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(db: Database, clock: Clock) -> Outbox:
    return Outbox(db, clock)


def test_an_alert_is_recorded_once_per_key_and_posted_once(outbox: Outbox) -> None:
    sink = Sink()

    first = deliver(outbox, _alert(), "slack_alerts", sink, sleep=_no_sleep)
    second = deliver(outbox, _alert(), "slack_alerts", sink, sleep=_no_sleep)

    (entry,) = read_alerts(outbox)
    assert (first, second) == ("delivered", "delivered")
    assert sink.accepted == ["retrain_churn/run1/validate"]
    assert entry["status"] == "delivered" and entry["attempts"] == 1 and entry["delivered_to"] == "slack"
    assert entry["lines"] == ["3 expectations failed"] and entry["conn_id"] == "slack_alerts"


def test_a_key_longer_than_the_column_is_recorded_once_and_kept_apart_from_its_neighbours(outbox: Outbox) -> None:
    long = "retrain_churn/" + "asset_triggered__" * 20  # 354 characters: a long run id
    sink = Sink()

    for key in (f"{long}/validate", f"{long}/validate", f"{long}/extract/failed/1"):
        deliver(outbox, _alert(key), "slack_alerts", sink, sleep=_no_sleep)

    assert sink.accepted == [f"{long}/validate", f"{long}/extract/failed/1"]
    assert [a["dedup_key"] for a in read_alerts(outbox)] == sink.accepted
    assert outbox.entry(f"{long}/validate").status == "delivered"


def test_the_alert_is_in_the_table_before_the_post(outbox: Outbox) -> None:
    seen: list[list[dict[str, object]]] = []

    def post(alert: Alert, conn_id: str) -> str:
        seen.append(read_alerts(Outbox(outbox.db)))  # another connection, as another worker reads it
        return "slack"

    deliver(outbox, _alert(), "slack_alerts", post, sleep=_no_sleep)

    ((during,),) = seen
    assert during["dedup_key"] == "retrain_churn/run1/validate"
    assert during["status"] == "unconfirmed" and during["attempts"] == 1, "claimed before the post"


def test_an_outage_keeps_the_alert_pending_and_a_later_call_delivers_it(outbox: Outbox, clock: Clock) -> None:
    down, pauses = Sink(failures=3), []

    status = deliver(outbox, _alert(), "slack_alerts", down, sleep=pauses.append)

    (entry,) = read_alerts(outbox)
    assert status == "pending" and entry["attempts"] == 3 and "refused" in entry["last_error"]
    assert pauses == [1.0, 2.0], "retried within the task with backoff"
    assert flush(outbox, down) == 0, "not due before its backoff has passed"
    clock.now += timedelta(minutes=5)
    other = deliver(outbox, _alert("monitor_churn/run9/drift"), "slack_alerts", down, sleep=_no_sleep)
    assert other == "delivered"
    assert sorted(down.accepted) == ["monitor_churn/run9/drift", "retrain_churn/run1/validate"]
    assert {a["status"] for a in read_alerts(outbox)} == {"delivered"}


def test_delivery_gives_up_after_max_attempts_and_keeps_the_record(outbox: Outbox, clock: Clock) -> None:
    never = Sink(failures=10**6)
    deliver(outbox, _alert(), "slack_alerts", never, sleep=_no_sleep)

    for _ in range(MAX_ATTEMPTS):
        clock.now += timedelta(hours=2)
        flush(outbox, never)

    (entry,) = read_alerts(outbox)
    assert entry["status"] == "failed" and entry["attempts"] == MAX_ATTEMPTS == never.calls
    assert entry["lines"] == ["3 expectations failed"]


def test_an_unknown_outcome_is_never_sent_again(outbox: Outbox, clock: Clock) -> None:
    timeout = Sink(failures=1, error=DeliveryUnknown)

    status = deliver(outbox, _alert(), "slack_alerts", timeout, sleep=_no_sleep)
    clock.now += timedelta(days=1)
    flush(outbox, timeout)

    (entry,) = read_alerts(outbox)
    assert status == "unconfirmed" and timeout.calls == 1 and entry["status"] == "unconfirmed"
    assert "post 1 refused" in entry["last_error"]


def test_a_process_that_died_mid_post_leaves_the_alert_unconfirmed_not_resent(outbox: Outbox, clock: Clock) -> None:
    outbox.record(_alert(), "slack_alerts")
    assert outbox.claim("retrain_churn/run1/validate") is not None  # then the worker was killed
    sink = Sink()

    clock.now += timedelta(days=1)
    flush(outbox, sink)

    (entry,) = read_alerts(outbox)
    assert sink.calls == 0 and entry["status"] == "unconfirmed" and entry["attempts"] == 1
    assert "no result recorded" in entry["last_error"]


def test_of_two_workers_claiming_the_same_alert_one_posts_it(db: Database, clock: Clock) -> None:
    first, second = Outbox(db, clock), Outbox(db, clock)  # two engines: two hosts' connections
    first.record(_alert(), "slack_alerts")

    seen_by_first, seen_by_second = first.due(), second.due()  # both see it due, neither has claimed
    claims = [first.claim(key, n) for key, n in seen_by_first] + [second.claim(key, n) for key, n in seen_by_second]

    assert seen_by_first == seen_by_second == [("retrain_churn/run1/validate", 0)]
    assert [c is not None for c in claims] == [True, False]


def test_a_claim_on_a_stale_sight_of_the_alert_is_refused(db: Database, clock: Clock) -> None:
    first, second = Outbox(db, clock), Outbox(db, clock)
    first.record(_alert(), "slack_alerts")
    ((key, attempts),) = first.due()
    flush(second, Sink(failures=1))  # meanwhile the other worker tried it and Slack refused

    late = first.claim(key, attempts)

    (entry,) = read_alerts(first)
    assert late is None, "pending again, but not the attempt this worker saw: its backoff has not passed"
    assert entry["status"] == "pending" and entry["attempts"] == 1


def test_workers_flushing_at_once_post_every_alert_exactly_once(db: Database, clock: Clock) -> None:
    keys = [f"retrain_churn/run{i}/validate" for i in range(40)]
    for key in keys:
        Outbox(db, clock).record(_alert(key), "slack_alerts")
    sink, start = Sink(), threading.Barrier(3)

    def worker() -> None:
        outbox = Outbox(db, clock)
        start.wait()
        flush(outbox, sink)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(sink.accepted) == sorted(keys), "each alert posted once, none twice, none missed"
    assert {a["status"] for a in read_alerts(Outbox(db))} == {"delivered"}


def test_retention_prunes_finished_alerts_and_never_a_pending_one(db: Database, clock: Clock) -> None:
    outbox = Outbox(db, clock, retention=timedelta(days=90))
    deliver(outbox, _alert("old/1/delivered"), "slack_alerts", Sink(), sleep=_no_sleep)
    deliver(outbox, _alert("old/2/unknown"), "slack_alerts", Sink(1, DeliveryUnknown), sleep=_no_sleep)
    outbox.record(_alert("old/3/pending"), "slack_alerts")  # an outage that outlived the retention
    clock.now += timedelta(days=89)
    outbox.record(_alert("new/4/gate"), "slack_alerts")
    assert outbox.prune() == 0, "nothing is older than the retention yet"
    clock.now += timedelta(days=2)

    pruned = outbox.prune()

    assert pruned == 2
    assert {a["dedup_key"]: a["status"] for a in read_alerts(outbox)} == {
        "old/3/pending": "pending",
        "new/4/gate": "pending",
    }


def test_a_flush_prunes_what_the_retention_has_passed(outbox: Outbox, clock: Clock) -> None:
    deliver(outbox, _alert(), "slack_alerts", Sink(), sleep=_no_sleep)
    clock.now += outbox.retention + timedelta(seconds=1)

    flush(outbox, Sink())

    assert read_alerts(outbox) == []


def test_an_unreachable_database_is_named_as_the_outbox_unavailable(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the database folder should be")
    outbox = Outbox(Database(f"sqlite:///{blocked / 'pipeline.db'}"))

    with pytest.raises(OutboxUnavailable, match="alert outbox in sqlite"):
        outbox.record(_alert(), "slack_alerts")


def _legacy_lines() -> list[dict[str, object]]:
    """An alerts.jsonl of the file outbox: one delivered, one pending after a refusal, one in
    flight when its worker died, one recorded before the outbox existed, and a torn line."""
    at = "2026-03-01T00:00:00+00:00"

    def recorded(key: str) -> dict[str, object]:
        return {"event": "recorded", "key": key, "conn_id": "slack_alerts", "alert": _alert(key).to_dict(), "at": at}

    return [
        recorded("a/1/validate"),
        {"event": "attempt", "key": "a/1/validate", "attempt": 1, "at": at},
        {"event": "result", "key": "a/1/validate", "attempt": 1, "outcome": "delivered", "to": "slack", "at": at},
        recorded("a/2/gate"),
        {"event": "attempt", "key": "a/2/gate", "attempt": 1, "at": at},
        {"event": "result", "key": "a/2/gate", "attempt": 1, "outcome": "failed", "error": "500", "at": at},
        recorded("a/3/extract"),
        {"event": "attempt", "key": "a/3/extract", "attempt": 1, "at": at},
        {"recorded_at": at, "delivered_to": "slack", **_alert("a/0/legacy").to_dict()},
    ]


def test_an_alerts_file_of_an_earlier_release_is_imported_once_with_its_last_states(
    db: Database, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "alerts.jsonl"
    text = "".join(json.dumps(line) + "\n" for line in _legacy_lines())
    path.write_text(text + '{"event": "recorded", "key": "a/4/gate", "alert": {"kind": "gate_bl')
    outbox = Outbox(db, clock, legacy_file=path)
    sink = Sink()

    with caplog.at_level(logging.WARNING):
        flush(outbox, sink)  # the first use imports; the pending one is due by then
    path.write_text(text)  # another process imports the same file again: nothing doubled
    assert import_legacy(Outbox(db, clock), path) == 0
    flush(Outbox(db, clock, legacy_file=path), sink)

    states = {a["dedup_key"]: (a["status"], a["attempts"]) for a in read_alerts(outbox)}
    assert states == {
        "a/1/validate": ("delivered", 1),
        "a/2/gate": ("delivered", 2),
        "a/3/extract": ("unconfirmed", 1),
        "a/0/legacy": ("delivered", 0),
    }
    assert sink.accepted == ["a/2/gate"], "only the pending alert was posted, once"
    assert not path.exists() and (tmp_path / "alerts.jsonl.imported").exists()
    assert "torn" in caplog.text and "imported 4 of 4 alert(s)" in caplog.text
