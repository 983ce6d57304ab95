"""The alert outbox, which never loses an alert: record first, deliver after. Every alert is
appended once (per dedup key: dag/run/gate) to an
append-only JSON-lines outbox (`RETRAINING_ALERTS_FILE`) and fsynced before anyone tries to
deliver it. Each delivery attempt is appended before the post and its result after, so the
file is the alert's whole history: `pending` -> `delivered`, or `failed` after MAX_ATTEMPTS,
or `unconfirmed`.

Retry policy, chosen so Slack never gets an alert twice:
- a definite failure (Slack answered with an error, the connection was refused) is retried:
  up to 3 tries within the task that raised the alert, then once per later delivery call (any
  task of any DAG that alerts flushes the outbox first) with exponential backoff, MAX_ATTEMPTS
  in all;
- an unknown outcome (a timeout or a dropped connection after the request was sent, or a
  process that died between recording an attempt and its result) is never re-sent: Slack may
  have accepted it. The alert stays in the outbox as `unconfirmed`, with the error.
A torn line (a crash mid-write, a full disk) is skipped with a warning, never fatal.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from include.retraining.alerts.message import Alert

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
TRIES_PER_CALL = 3
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
PENDING, DELIVERED, FAILED, UNCONFIRMED = "pending", "delivered", "failed", "unconfirmed"


def utcnow() -> datetime:
    return datetime.now(UTC)


class NotDelivered(Exception):
    """The destination refused or could not be reached: nothing was accepted, a retry is safe."""


class DeliveryUnknown(Exception):
    """The request may have been accepted (e.g. a timeout after sending): never re-sent."""


@dataclass
class OutboxEntry:
    alert: Alert
    conn_id: str
    recorded_at: str
    status: str = PENDING
    attempts: int = 0
    delivered_to: str = ""
    last_error: str = ""
    last_attempt_at: str = ""

    def to_dict(self) -> dict[str, object]:
        """The alert's fields plus its delivery state, as `read_alerts` returns them."""
        state = {k: v for k, v in asdict(self).items() if k != "alert"}
        return {**self.alert.to_dict(), **state}

    def due(self, now: datetime) -> bool:
        if self.status != PENDING:
            return False
        if not self.attempts:
            return True
        backoff = min(FIRST_BACKOFF * 2 ** (self.attempts - 1), MAX_BACKOFF)
        return now >= datetime.fromisoformat(self.last_attempt_at) + backoff


def _apply(entries: dict[str, OutboxEntry], event: dict[str, Any]) -> None:
    key, kind = event.get("key", ""), event.get("event")
    if kind is None and "kind" in event:  # a record written before the outbox: delivered then
        entry = OutboxEntry(Alert.from_dict(event), "", str(event.get("recorded_at", "")), DELIVERED)
        entry.delivered_to = str(event.get("delivered_to", "file"))
        entries.setdefault(event.get("dedup_key") or f"legacy-{len(entries)}", entry)
    elif kind == "recorded":
        entries.setdefault(key, OutboxEntry(Alert.from_dict(event["alert"]), event.get("conn_id", ""), event["at"]))
    elif key in entries and kind == "attempt":
        entry = entries[key]
        entry.attempts, entry.last_attempt_at = event["attempt"], event["at"]
        entry.status, entry.last_error = UNCONFIRMED, "no result recorded for the last attempt (still sending, or died)"
    elif key in entries and kind == "result":
        entry = entries[key]
        entry.last_error, entry.delivered_to = event.get("error", ""), event.get("to", "")
        retry = PENDING if entry.attempts < MAX_ATTEMPTS else FAILED
        entry.status = event["outcome"] if event["outcome"] in (DELIVERED, UNCONFIRMED) else retry


class Outbox:
    """The append-only alert file; every write is locked (flock) and fsynced."""

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path, self.clock = Path(path), clock or utcnow

    @contextmanager
    def _locked(self) -> Iterator[IO[str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield handle

    def _read(self, handle: IO[str]) -> dict[str, OutboxEntry]:
        handle.seek(0)
        entries: dict[str, OutboxEntry] = {}
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                _apply(entries, json.loads(line))
            except (ValueError, KeyError, TypeError):
                log.warning("%s line %d is torn or not an alert record; skipped", self.path, number)
        return entries

    def _append(self, handle: IO[str], event: dict[str, Any]) -> None:
        handle.seek(0, os.SEEK_END)
        if handle.tell():  # a torn last line must not swallow this record
            handle.seek(handle.tell() - 1)
            if handle.read(1) != "\n":
                handle.write("\n")
        handle.write(json.dumps({**event, "at": self.clock().isoformat()}, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())

    def entries(self) -> dict[str, OutboxEntry]:
        if not self.path.exists():
            return {}
        with self._locked() as handle:
            return self._read(handle)

    def record(self, alert: Alert, conn_id: str) -> bool:
        """Append the alert unless its dedup key is there already (a retry); True if written."""
        with self._locked() as handle:
            if alert.dedup_key and alert.dedup_key in self._read(handle):
                return False
            self._append(
                handle, {"event": "recorded", "key": alert.dedup_key, "conn_id": conn_id, "alert": alert.to_dict()}
            )
        return True

    def claim(self, key: str) -> OutboxEntry | None:
        """Append the next attempt of a pending alert before it is sent; None if not pending."""
        with self._locked() as handle:
            entry = self._read(handle).get(key)
            if entry is None or entry.status != PENDING:
                return None
            entry.attempts += 1
            self._append(handle, {"event": "attempt", "key": key, "attempt": entry.attempts})
        return entry

    def settle(self, key: str, attempt: int, outcome: str, to: str = "", error: str = "") -> None:
        with self._locked() as handle:
            event = {"event": "result", "key": key, "attempt": attempt, "outcome": outcome, "to": to, "error": error}
            self._append(handle, event)


Send = Callable[[Alert, str], str]  # posts the alert to a connection id; returns where it went


def _attempt(outbox: Outbox, key: str, send: Send) -> str | None:
    """One attempt; the resulting status, or None when the alert was not pending."""
    entry = outbox.claim(key)
    if entry is None:
        return None
    try:
        destination = send(entry.alert, entry.conn_id)
    except DeliveryUnknown as exc:
        outbox.settle(key, entry.attempts, UNCONFIRMED, error=str(exc))
        log.error("alert %s: delivery outcome unknown, not re-sent: %s", key, exc)
        return UNCONFIRMED
    except Exception as exc:  # noqa: BLE001 - any other error: nothing was accepted; retried later
        outbox.settle(key, entry.attempts, FAILED, error=f"{type(exc).__name__}: {exc}")
        log.warning("alert %s: attempt %d of %d failed: %s", key, entry.attempts, MAX_ATTEMPTS, exc)
        return PENDING if entry.attempts < MAX_ATTEMPTS else FAILED
    outbox.settle(key, entry.attempts, DELIVERED, to=destination)
    return DELIVERED


def flush(outbox: Outbox, send: Send) -> int:
    """One attempt for every pending alert whose backoff has passed; how many were delivered."""
    now = outbox.clock()
    due = [key for key, entry in outbox.entries().items() if entry.due(now)]
    return sum(_attempt(outbox, key, send) == DELIVERED for key in due)


def deliver(outbox: Outbox, alert: Alert, conn_id: str, send: Send, sleep: Callable[[float], None] = time.sleep) -> str:
    """Record the alert, deliver what earlier tasks could not, then this one (a few tries).

    Never raises for a delivery problem: the record is the promise, Slack is a copy of it.
    """
    if not alert.dedup_key:
        alert = replace(alert, dedup_key=f"{alert.kind}/{alert.model}/{outbox.clock().isoformat()}")
    if not outbox.record(alert, conn_id):
        log.info("alert %s was recorded by an earlier try; not sent again", alert.dedup_key)
    flush(outbox, send)
    for pause in (1.0, 2.0)[: TRIES_PER_CALL - 1]:
        entry = outbox.entries().get(alert.dedup_key)
        if entry is None or entry.status != PENDING:
            break
        (sleep or time.sleep)(pause)
        _attempt(outbox, alert.dedup_key, send)
    entry = outbox.entries().get(alert.dedup_key)
    return entry.status if entry else FAILED


def read_alerts(path: Path) -> list[dict[str, object]]:
    """Every alert in the outbox, oldest first, with its delivery state."""
    return [entry.to_dict() for entry in Outbox(path).entries().values()]
