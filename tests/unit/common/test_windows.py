"""Window arithmetic, derived only from a run's logical time, and the one conversion of a moment
to UTC (a datetime, a pandas Timestamp or ISO text) and to int64 nanoseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pendulum
import pytest

from include.retraining.common import Window, as_nanoseconds, as_utc, recent_window, training_window, utc_timestamp

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 2, 3, tzinfo=UTC)


def test_training_window_excludes_immature_labels() -> None:
    window = training_window(END, window_days=56, label_delay_days=14)
    assert window.start == END - timedelta(days=56)
    assert window.end == END - timedelta(days=14)
    assert window.label == "20260105T030000_20260216T030000"


def test_label_delay_longer_than_window_is_refused() -> None:
    with pytest.raises(ValueError, match="label_delay_days"):
        training_window(END, window_days=7, label_delay_days=7)


def test_a_monitoring_window_ends_at_the_run() -> None:
    assert recent_window(END, 28) == Window(END - timedelta(days=28), END)


def test_pendulum_and_other_zones_become_plain_utc() -> None:
    moment = pendulum.datetime(2026, 3, 2, 4, tz="Europe/Paris")
    assert as_utc(moment) == datetime(2026, 3, 2, 3, tzinfo=UTC)
    assert type(as_utc(moment)) is datetime


def test_naive_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_an_empty_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty window"):
        Window(END, END)


def test_a_window_crosses_xcom_and_back_unchanged() -> None:
    window = Window(END - timedelta(days=7), END)
    assert window.to_dict() == {"start": "2026-02-23T03:00:00+00:00", "end": "2026-03-02T03:00:00+00:00"}
    assert Window.from_dict(window.to_dict()) == window


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 2, 3, 0, 0, 5, tzinfo=UTC),
        datetime(2026, 3, 2, 4, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 3, 2, 3, 0, 0, 5),  # naive: the warehouse's UTC
        pd.Timestamp("2026-03-02 03:00:00.000005"),
        "2026-03-01T22:00:00.000005-05:00",
    ],
    ids=["utc", "plus-one", "naive", "pandas-naive", "iso-text"],
)
def test_every_form_of_one_moment_is_the_same_utc_timestamp(moment: object) -> None:
    stamp = utc_timestamp(moment)
    assert stamp == pd.Timestamp("2026-03-02 03:00:00.000005", tz="UTC") and str(stamp.tz) == "UTC"
    assert as_nanoseconds(moment) == 1_772_420_400_000_005_000


def test_nanoseconds_are_kept_and_the_epoch_is_zero() -> None:
    assert as_nanoseconds(pd.Timestamp("2026-03-02 03:00:00.000000007")) % 1000 == 7
    assert as_nanoseconds(datetime(1970, 1, 1, tzinfo=UTC)) == 0
