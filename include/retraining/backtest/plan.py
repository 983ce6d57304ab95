"""Which runs a backtest replays: the model's retrain schedule cut into windows, the monitor's
fires inside each, and the check that every window's labels have matured by now.

Pure: the same model file and dates always give the same plan, so a resumed backtest replays the
windows the interrupted one planned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

from include.retraining.common import Window, as_utc
from include.retraining.config import ModelConfig

# A year of daily monitor fires is 365; a plan of more windows than this is a typo in the dates.
MAX_WINDOWS = 2_000


class BacktestPlanError(ValueError):
    """The dates or the schedules give nothing to replay, or windows whose labels are not in yet."""


@dataclass(frozen=True)
class PlannedWindow:
    """One retrain-schedule period (start, end]: the monitor runs fired in it, then the weekly
    retrain at its end. The rows of the period are what the champion of its start served."""

    index: int
    window: Window
    monitor_fires: tuple[datetime, ...]

    @property
    def start(self) -> datetime:
        return self.window.start

    @property
    def end(self) -> datetime:
        return self.window.end


def cron_fires(cron: str, after: datetime, until: datetime) -> list[datetime]:
    """Every fire of `cron` (UTC) with after < fire <= until."""
    fires: list[datetime] = []
    it = croniter(cron, as_utc(after))
    while True:
        fire = as_utc(it.get_next(datetime))
        if fire > until:
            return fires
        fires.append(fire)
        if len(fires) > MAX_WINDOWS * 24:
            raise BacktestPlanError(f"cron {cron!r} fires more than {MAX_WINDOWS * 24} times between the dates")


def previous_fire(cron: str, moment: datetime) -> datetime:
    """The fire of `cron` just before `moment`."""
    return as_utc(croniter(cron, as_utc(moment)).get_prev(datetime))


def plan_windows(
    config: ModelConfig, start: datetime, end: datetime, monitor_cron: str | None = None
) -> list[PlannedWindow]:
    """The windows between `start` and `end`: one per fire of the model's `schedule` in
    (start, end], each from the fire before it; the monitor fires (`monitor.schedule`, or
    `monitor_cron`) inside each."""
    if config.task == "multiclass":
        raise BacktestPlanError(
            f"model {config.name!r}: the backtest replays classification and regression models; for a "
            "multiclass model it is not available yet (its replayed figures would score one probability per row)"
        )
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise BacktestPlanError(f"model {config.name!r}: --start {start:%Y-%m-%d} is not before --end {end:%Y-%m-%d}")
    fires = cron_fires(config.schedule, start, end)
    if not fires:
        raise BacktestPlanError(
            f"model {config.name!r}: its schedule {config.schedule!r} does not fire between "
            f"{start.isoformat()} and {end.isoformat()}; widen the dates"
        )
    if len(fires) > MAX_WINDOWS:
        raise BacktestPlanError(
            f"model {config.name!r}: {len(fires)} windows (at most {MAX_WINDOWS}); narrow the dates"
        )
    cron = monitor_cron or config.monitor.schedule
    windows = []
    for index, fire in enumerate(fires):
        begin = previous_fire(config.schedule, fire)
        windows.append(PlannedWindow(index, Window(begin, fire), tuple(cron_fires(cron, begin, fire))))
    return windows


def check_matured(config: ModelConfig, windows: list[PlannedWindow], now: datetime) -> None:
    """Refuse a plan with a window whose rows' labels have not matured by `now`: what it served
    could not be scored, and its figures would change as labels arrive."""
    delay = timedelta(days=config.training.label_delay_days)
    for planned in windows:
        if planned.end + delay > as_utc(now):
            matured = as_utc(now) - delay
            raise BacktestPlanError(
                f"model {config.name!r}: the window {planned.start:%Y-%m-%d %H:%M} .. {planned.end:%Y-%m-%d %H:%M} "
                f"(window {planned.index + 1} of {len(windows)}) has labels that have not matured: "
                f"training.label_delay_days={config.training.label_delay_days} puts its last labels at "
                f"{planned.end + delay:%Y-%m-%d %H:%M} UTC, after now ({as_utc(now):%Y-%m-%d %H:%M}). "
                f"End the backtest at or before {matured:%Y-%m-%d %H:%M} (--end)"
            )
