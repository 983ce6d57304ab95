"""The alert outbox, which never loses an alert: record first, deliver after. Every alert is
recorded once (per dedup key: dag/run/gate) as a row of table `alert_outbox` in the pipeline
database, committed before anyone tries to deliver it. Each delivery attempt is claimed in the
row before the post and its result written after: `pending` -> `delivered`, or `failed` after
MAX_ATTEMPTS, or `unconfirmed`. Statuses are kept; `retention` prunes finished rows.

Retry policy, chosen so Slack never gets an alert twice:
- a definite failure (Slack answered with an error, the connection was refused) is retried:
  up to 3 tries within the task that raised the alert, then once per later delivery call (any
  task of any DAG that alerts flushes the outbox first) with exponential backoff, MAX_ATTEMPTS
  in all;
- an unknown outcome (a timeout or a dropped connection after the request was sent, or a
  process that died between claiming an attempt and writing its result) is never re-sent: Slack
  may have accepted it. The alert stays in the outbox as `unconfirmed`, with the error.
A claim is a compare-and-set on (status pending, attempt count seen), so of two workers on two
hosts that see the same due alert, one posts it and the other skips it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from include.retraining.alerts.entry import (
    DELIVERED,
    FAILED,
    FINISHED,
    IN_FLIGHT,
    MAX_ATTEMPTS,
    PENDING,
    UNCONFIRMED,
    DeliveryUnknown,
    OutboxEntry,
    OutboxUnavailable,
    backoff,
)
from include.retraining.alerts.legacy import read_legacy_file
from include.retraining.alerts.message import Alert
from include.retraining.tables import OutboxTable
from include.retraining.warehouse import Database, WarehouseError

log = logging.getLogger(__name__)

TRIES_PER_CALL = 3
DEFAULT_RETENTION = timedelta(days=90)
IMPORTED_SUFFIX = ".imported"
_IMPORTED: set[tuple[Path, str]] = set()  # (legacy file, database) pairs this process has imported


def utcnow() -> datetime:
    return datetime.now(UTC)


def _entry(row: dict[str, Any]) -> OutboxEntry:
    last = row["last_attempt_at"]
    return OutboxEntry(
        alert=Alert.from_dict(row["alert"]),
        conn_id=row["conn_id"],
        recorded_at=row["recorded_at"].isoformat(),
        status=row["status"],
        attempts=row["attempts"],
        delivered_to=row["delivered_to"],
        last_error=row["last_error"],
        last_attempt_at=last.isoformat() if last else "",
    )


class Outbox:
    """The alert outbox, table `alert_outbox` of the pipeline database `db`.

    `legacy_file` is the JSON-lines outbox of earlier releases (`RETRAINING_ALERTS_FILE`): when
    it exists, its alerts (each with its last status) are imported on first use and the file is
    renamed `<name>.imported`. `retention`: delivered, failed and unconfirmed rows last changed
    longer ago are pruned by `flush`; pending rows never are.
    """

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] | None = None,
        *,
        legacy_file: Path | None = None,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.db, self.clock, self.retention = db, clock or utcnow, retention
        self.legacy_file = Path(legacy_file) if legacy_file else None
        self._table = OutboxTable(db)

    def __repr__(self) -> str:
        return f"Outbox({self.db.display})"

    @contextmanager
    def session(self) -> Iterator[None]:
        """One connection pool for every call inside the block (and the legacy file imported);
        a database error inside it is `OutboxUnavailable`."""
        try:
            if self._table.is_open:
                yield
                return
            with self._table.opened():
                self._import_legacy()
                yield
        except WarehouseError as exc:
            raise OutboxUnavailable(str(exc)) from exc

    def _import_legacy(self) -> None:
        path = self.legacy_file
        if path is None or (path, self.db.display) in _IMPORTED or not path.exists():
            return
        try:
            import_legacy(self, path)
        except OSError as exc:  # the table works; a later process imports the file
            log.error("alert outbox: %s could not be imported or renamed: %s", path, exc)
        # Once per process even when the file stays (a read-only folder): each import reads it whole.
        _IMPORTED.add((path, self.db.display))

    def record(self, alert: Alert, conn_id: str) -> bool:
        """Insert the alert unless its dedup key is there already (a retry); True if written."""
        now = self.clock()
        row = {
            "alert_key": alert.dedup_key,
            "alert": alert.to_dict(),
            "conn_id": conn_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "last_attempt_at": None,
            "last_error": "",
            "delivered_to": "",
            "recorded_at": now,
            "updated_at": now,
        }
        with self.session():
            return self._table.insert_once(row)

    def entry(self, key: str) -> OutboxEntry | None:
        with self.session():
            row = self._table.get(key)
        return _entry(row) if row else None

    def entries(self) -> dict[str, OutboxEntry]:
        """Every alert, oldest first (reads the whole table: for people and tests, not delivery)."""
        with self.session():
            return {row["alert_key"]: _entry(row) for row in self._table.rows()}

    def counts(self) -> dict[str, int]:
        """Alerts per status."""
        with self.session():
            return self._table.counts()

    def due(self) -> list[tuple[str, int]]:
        """(key, attempts) of the pending alerts whose backoff has passed, earliest first."""
        with self.session():
            return self._table.due(PENDING, self.clock())

    def claim(self, key: str, attempts: int | None = None) -> OutboxEntry | None:
        """Take the next attempt of a pending alert before it is sent; None if not pending, or
        if another worker took it first. `attempts` is the count the caller saw (due()); the
        claim succeeds only while the row still has it."""
        with self.session():
            if attempts is None:
                row = self._table.get(key)
                if row is None or row["status"] != PENDING:
                    return None
                attempts = int(row["attempts"])
            now = self.clock()
            claimed = {
                "status": UNCONFIRMED,
                "attempts": attempts + 1,
                "last_attempt_at": now,
                "last_error": IN_FLIGHT,
                "updated_at": now,
            }
            if not self._table.compare_and_set(key, PENDING, attempts, claimed):
                return None
            row = self._table.get(key)
        return _entry(row) if row else None

    def settle(self, key: str, attempt: int, outcome: str, to: str = "", error: str = "") -> str:
        """Write the result of attempt number `attempt`; the alert's status after it."""
        now = self.clock()
        status = outcome if outcome in (DELIVERED, UNCONFIRMED) else PENDING if attempt < MAX_ATTEMPTS else FAILED
        values = {
            "status": status,
            "delivered_to": to,
            "last_error": error,
            "next_attempt_at": now + backoff(attempt) if status == PENDING else None,
            "updated_at": now,
        }
        with self.session():
            self._table.compare_and_set(key, UNCONFIRMED, attempt, values)
        return status

    def prune(self) -> int:
        """Delete the finished alerts older than the retention; never a pending one."""
        with self.session():
            pruned = self._table.prune(FINISHED, self.clock() - self.retention)
        if pruned:
            log.info("alert outbox: pruned %d alert(s) finished more than %s ago", pruned, self.retention)
        return pruned

    def import_entry(self, key: str, entry: OutboxEntry) -> bool:
        """Insert one alert of the legacy file with its state; False if its key is there."""
        recorded = _when(entry.recorded_at) or self.clock()
        last = _when(entry.last_attempt_at)
        row = {
            "alert_key": key,
            "alert": entry.alert.to_dict(),
            "conn_id": entry.conn_id,
            "status": entry.status,
            "attempts": entry.attempts,
            "next_attempt_at": (last + backoff(entry.attempts) if last else recorded)
            if entry.status == PENDING
            else None,
            "last_attempt_at": last,
            "last_error": entry.last_error,
            "delivered_to": entry.delivered_to,
            "recorded_at": recorded,
            "updated_at": max(filter(None, [recorded, last])),
        }
        with self.session():
            return self._table.insert_once(row)


def _when(text: str) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def import_legacy(outbox: Outbox, path: Path) -> int:
    """Import the JSON-lines outbox of earlier releases once: each alert with its last status,
    none twice (a key already in the table is kept as it is), then rename the file
    `<name>.imported`. Idempotent: two workers importing at once insert each key once."""
    entries = read_legacy_file(path)
    imported = sum(outbox.import_entry(key, entry) for key, entry in entries.items())
    with suppress(FileNotFoundError):  # another worker imported it meanwhile
        path.rename(path.with_name(path.name + IMPORTED_SUFFIX))
    log.warning(
        "alert outbox: imported %d of %d alert(s) from %s into %s; the file is now %s%s",
        imported,
        len(entries),
        path,
        outbox.db.display,
        path.name,
        IMPORTED_SUFFIX,
    )
    return imported


Send = Callable[[Alert, str], str]  # posts the alert to a connection id; returns where it went


def _attempt(outbox: Outbox, key: str, send: Send, attempts: int | None = None) -> str | None:
    """One attempt; the resulting status, or None when the alert was not pending (or taken)."""
    entry = outbox.claim(key, attempts)
    if entry is None:
        return None
    try:
        destination = send(entry.alert, entry.conn_id)
    except DeliveryUnknown as exc:
        outbox.settle(key, entry.attempts, UNCONFIRMED, error=str(exc))
        log.error("alert %s: delivery outcome unknown, not re-sent: %s", key, exc)
        return UNCONFIRMED
    except Exception as exc:  # noqa: BLE001 - any other error: nothing was accepted; retried later
        status = outbox.settle(key, entry.attempts, FAILED, error=f"{type(exc).__name__}: {exc}")
        log.warning("alert %s: attempt %d of %d failed: %s", key, entry.attempts, MAX_ATTEMPTS, exc)
        return status
    return outbox.settle(key, entry.attempts, DELIVERED, to=destination)


def flush(outbox: Outbox, send: Send) -> int:
    """One attempt for every pending alert whose backoff has passed (at most a batch of them, by
    index), then the retention's prune; how many were delivered."""
    with outbox.session():
        delivered = sum(_attempt(outbox, key, send, attempts) == DELIVERED for key, attempts in outbox.due())
        outbox.prune()
    return delivered


def deliver(outbox: Outbox, alert: Alert, conn_id: str, send: Send, sleep: Callable[[float], None] = time.sleep) -> str:
    """Record the alert, deliver what earlier tasks could not, then this one (a few tries).

    Never raises for a delivery problem: the record is the promise, Slack is a copy of it.
    """
    if not alert.dedup_key:
        alert = replace(alert, dedup_key=f"{alert.kind}/{alert.model}/{outbox.clock().isoformat()}")
    with outbox.session():
        if not outbox.record(alert, conn_id):
            log.info("alert %s was recorded by an earlier try; not sent again", alert.dedup_key)
        flush(outbox, send)
        for pause in (1.0, 2.0)[: TRIES_PER_CALL - 1]:
            entry = outbox.entry(alert.dedup_key)
            if entry is None or entry.status != PENDING:
                break
            (sleep or time.sleep)(pause)
            _attempt(outbox, alert.dedup_key, send)
        entry = outbox.entry(alert.dedup_key)
    return entry.status if entry else FAILED


def read_alerts(outbox: Outbox) -> list[dict[str, object]]:
    """Every alert in the outbox, oldest first, with its delivery state."""
    return [entry.to_dict() for entry in outbox.entries().values()]
