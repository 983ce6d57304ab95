from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
import pytest

from include.retraining.common.windows import Window, as_utc, matured_window, recent_window, training_window

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


def test_pendulum_and_other_zones_become_plain_utc() -> None:
    moment = pendulum.datetime(2026, 3, 2, 4, tz="Europe/Paris")
    assert as_utc(moment) == datetime(2026, 3, 2, 3, tzinfo=UTC)
    assert type(as_utc(moment)) is datetime


def test_naive_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_matured_part_of_a_monitoring_window() -> None:
    window = recent_window(END, 28)
    assert matured_window(window, 14) == Window(END - timedelta(days=28), END - timedelta(days=14))
    assert matured_window(recent_window(END, 7), 14) is None
