"""One alert in the outbox and its delivery state: the statuses, the attempt budget, the backoff
between attempts, and the errors of delivery. Light to import (no database library): DAG files
import it while parsing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from include.retraining.alerts.message import Alert

MAX_ATTEMPTS = 6
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
PENDING, DELIVERED, FAILED, UNCONFIRMED = "pending", "delivered", "failed", "unconfirmed"
FINISHED = (DELIVERED, FAILED, UNCONFIRMED)
IN_FLIGHT = "no result recorded for the last attempt (still sending, or died)"


class NotDelivered(Exception):
    """The destination refused or could not be reached: nothing was accepted, a retry is safe."""


class DeliveryUnknown(Exception):
    """The request may have been accepted (e.g. a timeout after sending): never re-sent."""


class OutboxUnavailable(Exception):
    """The outbox's database could not be reached, upgraded, read or written: the alert is not
    recorded (the caller logs it and posts it directly)."""


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


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
