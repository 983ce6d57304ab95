"""Window arithmetic: which rows a run may read, derived only from the run's logical time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Window:
    """Rows with start < timestamp <= end."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
        if self.start >= self.end:
            raise ValueError(f"empty window: start {self.start} is not before end {self.end}")

    @property
    def label(self) -> str:
        """A filesystem- and tag-safe name for the window, e.g. 20260101T000000_20260701T000000."""
        return f"{self.start:%Y%m%dT%H%M%S}_{self.end:%Y%m%dT%H%M%S}"

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Window:
        """The inverse of `to_dict` (ISO strings with offsets, as tasks hand them over XCom)."""
        return cls(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]))


def as_utc(moment: datetime) -> datetime:
    """A plain stdlib UTC datetime (naive input is taken as UTC; pendulum's subclass is unwrapped)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)


def training_window(end: datetime, window_days: int, label_delay_days: int = 0) -> Window:
    """(end - window_days, end - label_delay_days]: only rows whose labels have matured."""
    if label_delay_days >= window_days:
        raise ValueError(f"label_delay_days ({label_delay_days}) must be smaller than window_days ({window_days})")
    end = as_utc(end)
    return Window(end - timedelta(days=window_days), end - timedelta(days=label_delay_days))


def recent_window(end: datetime, window_days: int) -> Window:
    """(end - window_days, end]: the data a monitoring run looks at."""
    end = as_utc(end)
    return Window(end - timedelta(days=window_days), end)


def utc_timestamp(moment: Any) -> Any:
    """A moment (datetime, pandas Timestamp or ISO text) as a UTC pandas Timestamp, nanoseconds
    kept; a naive one is taken as UTC (the warehouse's convention)."""
    import pandas as pd

    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def as_nanoseconds(moment: Any) -> int:
    """A moment as int64 nanoseconds since the epoch (UTC): the time unit of the gate's evidence."""
    return int(utc_timestamp(moment).value)
