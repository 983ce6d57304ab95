"""The backtest's plan: windows on the retrain schedule, the monitor's fires inside each, and the
refusal of windows whose labels have not matured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.retraining.backtest import BacktestPlanError, check_matured, plan_windows
from include.retraining.config import load_model_config
from tests.support import REPO

pytestmark = pytest.mark.unit

CHURN = load_model_config(REPO / "include" / "models" / "churn.yaml")  # weekly Monday 03:00, monitor daily 02:00


def test_one_window_per_weekly_fire_each_from_the_fire_before() -> None:
    windows = plan_windows(CHURN, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))

    assert [w.end for w in windows] == [datetime(2026, 2, d, 3, tzinfo=UTC) for d in (2, 9, 16, 23)]
    assert windows[0].start == datetime(2026, 1, 26, 3, tzinfo=UTC)
    assert all(b.start == a.end for a, b in zip(windows, windows[1:], strict=False))
    assert [w.index for w in windows] == [0, 1, 2, 3]


def test_the_daily_monitor_fires_seven_times_inside_each_window() -> None:
    (window,) = plan_windows(CHURN, datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 9, 12, tzinfo=UTC))

    assert window.monitor_fires == tuple(datetime(2026, 2, d, 2, tzinfo=UTC) for d in range(3, 10))


def test_a_monitor_cron_replaces_the_monitors_schedule() -> None:
    (window,) = plan_windows(
        CHURN, datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 9, 12, tzinfo=UTC), monitor_cron="0 3 * * 1"
    )

    assert window.monitor_fires == (datetime(2026, 2, 9, 3, tzinfo=UTC),)


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "is not before --end"),
        (datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC), "does not fire between"),
    ],
)
def test_dates_that_give_nothing_to_replay_are_refused(start: datetime, end: datetime, says: str) -> None:
    with pytest.raises(BacktestPlanError, match=says):
        plan_windows(CHURN, start, end)


def test_a_window_whose_labels_have_not_matured_is_refused_naming_it_the_delay_and_the_fix() -> None:
    windows = plan_windows(CHURN, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    now = windows[-1].end + timedelta(days=CHURN.training.label_delay_days) - timedelta(hours=1)

    with pytest.raises(BacktestPlanError) as refused:
        check_matured(CHURN, windows, now)

    message = str(refused.value)
    assert "2026-02-16 03:00 .. 2026-02-23 03:00" in message
    assert "training.label_delay_days=7" in message and "--end" in message


def test_windows_whose_labels_have_matured_pass() -> None:
    windows = plan_windows(CHURN, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))

    check_matured(CHURN, windows, windows[-1].end + timedelta(days=CHURN.training.label_delay_days))


def test_a_multiclass_model_is_refused_by_name_rather_than_replayed_on_one_score_per_row() -> None:
    multiclass = CHURN.model_copy(update={"task": "multiclass"})

    with pytest.raises(BacktestPlanError, match="model 'churn'.*multiclass model it is not available"):
        plan_windows(multiclass, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
