"""The JSON-lines outbox of earlier releases (`RETRAINING_ALERTS_FILE`), read once to import it
into the table: each alert with the status its events left it in. A torn line (a crash or a full
disk mid-write) is skipped with a warning, as the file outbox did."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from include.retraining.alerts.entry import (
    DELIVERED,
    FAILED,
    IN_FLIGHT,
    MAX_ATTEMPTS,
    PENDING,
    UNCONFIRMED,
    OutboxEntry,
)
from include.retraining.alerts.message import Alert

log = logging.getLogger(__name__)


def read_legacy_file(path: Path) -> dict[str, OutboxEntry]:
    """Every alert of the file by dedup key, oldest first, in its last state."""
    entries: dict[str, OutboxEntry] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                _apply(entries, json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s line %d is torn or not an alert record; skipped", path, number)
    return entries


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
        entry.status, entry.last_error = UNCONFIRMED, IN_FLIGHT
    elif key in entries and kind == "result":
        entry = entries[key]
        entry.last_error, entry.delivered_to = event.get("error", ""), event.get("to", "")
        retry = PENDING if entry.attempts < MAX_ATTEMPTS else FAILED
        entry.status = event["outcome"] if event["outcome"] in (DELIVERED, UNCONFIRMED) else retry
