"""Which runs a backtest replays: the model's retrain schedule cut into windows, the monitor's
fires inside each, the rollbacks by hand to replay, the earlier states of the source, and the
check that every window's labels have matured by now.

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


# The reason a replayed rollback by hand is logged with when `--rollback` gives none.
HAND_REASON = "rolled back by hand (replayed by the backtest)"


class BacktestPlanError(ValueError):
    """The dates or the schedules give nothing to replay, or windows whose labels are not in yet."""


@dataclass(frozen=True)
class HandRollback:
    """A person rolling the policy's champion back to `previous_champion` at `at`, as a run of
    `rollback_<model>` with that reason does; replayed after the runs at that time."""

    at: datetime
    reason: str = HAND_REASON


@dataclass(frozen=True)
class SourceBefore:
    """The source as it was: runs before `until` read the database at `url` (a backup, a copy, a
    time-travel view of the warehouse); runs from `until` on read the next one, the last being the
    model's own connection."""

    until: datetime
    url: str


def _moment(text: str, option: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise BacktestPlanError(f"{option} {text!r}: the time is not ISO 8601 (e.g. 2026-03-16T03:00)") from None


def parse_rollback(text: str) -> HandRollback:
    """`--rollback AT[=REASON]`."""
    at, _, reason = text.partition("=")
    return HandRollback(_moment(at, "--rollback"), reason.strip() or HAND_REASON)


def parse_source_before(text: str) -> SourceBefore:
    """`--source-before UNTIL=URL`."""
    until, _, url = text.partition("=")
    if not url.strip():
        raise BacktestPlanError(
            f"--source-before {text!r}: give UNTIL=URL, the SQLAlchemy URL of the source as it was before UNTIL "
            "(e.g. 2026-03-30T03:00=sqlite:///warehouse_backup.db)"
        )
    return SourceBefore(_moment(until, "--source-before"), url.strip())


@dataclass(frozen=True)
class PlannedWindow:
    """One retrain-schedule period (start, end]: the monitor runs fired in it, then the weekly
    retrain at its end, and the rollbacks by hand in it, each after the runs at its time. The rows
    of the period are what the champion of its start served."""

    index: int
    window: Window
    monitor_fires: tuple[datetime, ...]
    rollbacks: tuple[HandRollback, ...] = ()

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


def scoring_grid(cron: str, first: datetime, last: datetime) -> list[datetime]:
    """The fires of `cron` from the one before `first` to the second after `last`: enough to find,
    for every time in [first, last], the fire that ends its interval and the fire after it."""
    fires = [previous_fire(cron, first), *cron_fires(cron, previous_fire(cron, first), last)]
    it = croniter(cron, as_utc(last))
    return fires + [as_utc(it.get_next(datetime)), as_utc(it.get_next(datetime))]


def previous_fire(cron: str, moment: datetime) -> datetime:
    """The fire of `cron` just before `moment`."""
    return as_utc(croniter(cron, as_utc(moment)).get_prev(datetime))


def _check_moments(config: ModelConfig, start: datetime, end: datetime, moments: list[datetime], option: str) -> None:
    """Each time of a repeatable option falls in (start, end], once."""
    for moment in moments:
        if not start < moment <= end:
            raise BacktestPlanError(
                f"model {config.name!r}: {option} {moment.isoformat()} is outside the backtest "
                f"({start.isoformat()} .. {end.isoformat()}]; give a time after --start and at or before --end"
            )
    repeated = sorted({m for m in moments if moments.count(m) > 1})
    if repeated:
        raise BacktestPlanError(
            f"model {config.name!r}: {option} {repeated[0].isoformat()} is given twice; give it once"
        )


def plan_windows(
    config: ModelConfig,
    start: datetime,
    end: datetime,
    monitor_cron: str | None = None,
    rollbacks: tuple[HandRollback, ...] = (),
    sources_before: tuple[SourceBefore, ...] = (),
) -> list[PlannedWindow]:
    """The windows between `start` and `end`: one per fire of the model's `schedule` in
    (start, end], each from the fire before it; the monitor fires (`monitor.schedule`, or
    `monitor_cron`) and the rollbacks by hand inside each. Every rollback and every earlier
    source's `until` must fall in (start, end]."""
    if config.task == "multiclass":
        raise BacktestPlanError(
            f"model {config.name!r}: the backtest replays classification and regression models; for a "
            "multiclass model it is not available yet (its replayed figures would score one probability per row)"
        )
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise BacktestPlanError(f"model {config.name!r}: --start {start:%Y-%m-%d} is not before --end {end:%Y-%m-%d}")
    _check_moments(config, start, end, [r.at for r in rollbacks], "--rollback")
    _check_moments(config, start, end, [s.until for s in sources_before], "--source-before")
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
    hand = sorted(rollbacks, key=lambda r: r.at)
    for index, fire in enumerate(fires):
        begin = previous_fire(config.schedule, fire)
        inside = tuple(r for r in hand if begin < r.at <= fire)
        windows.append(PlannedWindow(index, Window(begin, fire), tuple(cron_fires(cron, begin, fire)), inside))
    late = [r for r in hand if r.at > fires[-1]]
    if late:
        raise BacktestPlanError(
            f"model {config.name!r}: --rollback {late[0].at.isoformat()} is after the last window, which ends at "
            f"the schedule's last fire {fires[-1].isoformat()}; give a time at or before it"
        )
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
