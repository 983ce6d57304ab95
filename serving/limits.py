"""What the server accepts and from whom: the bearer token, the body and row limits, the worker
pool, and how stale a served version may get before /health says so. Read from the environment
by `python -m serving` (serving/__main__.py); the defaults hold for the churn model on 2 cores."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

MB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 10 * MB
DEFAULT_MAX_ROWS = 100_000
DEFAULT_WORKERS = 2
DEFAULT_MAX_PENDING = 32
# An hour without the registry confirming the served version: long enough for a registry restart
# or a short outage, short enough that a rollback the server cannot see is noticed the same day.
DEFAULT_MAX_STALENESS_SECONDS = 3600.0


@dataclass(frozen=True)
class ServingLimits:
    """`token`: None serves anyone (loopback use); `max_pending`: requests admitted at once (being
    read, waiting for a worker or scored), beyond which a request gets a 503 before its body is read."""

    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    workers: int = DEFAULT_WORKERS
    max_pending: int = DEFAULT_MAX_PENDING
    max_staleness_seconds: float = DEFAULT_MAX_STALENESS_SECONDS

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_rows", "workers", "max_pending"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_staleness_seconds < 0:
            raise ValueError(f"max staleness must be 0 (off) or positive, got {self.max_staleness_seconds}")
        if self.token is not None and not self.token:
            raise ValueError("the serving token is empty: set a token or leave it unset")

    def authorized(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header carries the token (always, when none is set)."""
        if self.token is None:
            return True
        scheme, _, credentials = (authorization or "").partition(" ")
        # Compared in constant time, so the answer's timing does not reveal how much of a guess was right.
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token.encode())
