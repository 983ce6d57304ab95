"""The monitor's seasonal reference (`trigger.seasonal_reference`): the rows of the same window a
season ago (`season_days` earlier), or of the window just before this one, read from the
warehouse beside the champion's training data. The trigger policy counts a column as drifted only
when it drifted against both (`drift.evidence`), so a swing that recurs every season is
not drift. Too few rows there (not enough history) is said in the decision notes, and the
champion's data alone decides, as without the option.

A step of its own (task `seasonal_reference`), separate from `steps.current`: a sample of
at most `monitor.max_rows` rows of the monitored features, nothing else, drawn by the warehouse
(`Warehouse.read_monitor_window`, the id-hash sample `current` uses) when the window is
larger, so a 10M-row window a season ago is not read into the worker.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from include.retraining.artifacts import monitoring_dir, read_snapshot, write_parquet_atomic
from include.retraining.common import Window, sample_rows
from include.retraining.config import ModelConfig
from include.retraining.drift import NO_SEASONAL, SeasonalEvidence
from include.retraining.monitor.contracts import CurrentWindow, SeasonalWindow
from include.retraining.runs import StepContext

OFF = SeasonalWindow("none")
_WHAT = {"season_ago": "the same window a season ago", "previous_window": "the previous window"}


def lagged_window(config: ModelConfig, window: Window) -> Window:
    """The seasonal reference's window: `season_days` earlier, or `monitor.window_days` earlier."""
    trigger = config.trigger
    days = trigger.season_days if trigger.seasonal_reference == "season_ago" else config.monitor.window_days
    return Window(window.start - timedelta(days=days), window.end - timedelta(days=days))


def seasonal_reference(ctx: StepContext, cur: CurrentWindow) -> SeasonalWindow:
    """Read the seasonal reference's rows (a fixed-seed sample of `monitor.max_rows`) and keep them
    beside the window's; with too few rows, no path and a note saying so."""
    config = ctx.config
    mode = config.trigger.seasonal_reference
    if mode == "none":
        return OFF
    lagged = lagged_window(config, cur.window)
    columns = [config.source.timestamp_column, *config.features.columns]
    read = ctx.warehouse.read_monitor_window(config, columns, lagged.start, lagged.end, config.monitor.max_rows)
    if read.rows < config.monitor.min_rows:
        note = (
            f"seasonal reference ({mode}) not used: {_WHAT[mode]} ({lagged.start:%Y-%m-%d} .. "
            f"{lagged.end:%Y-%m-%d}) has {read.rows} rows (< monitor.min_rows={config.monitor.min_rows}), "
            "not enough history; decided against the champion's training data alone"
        )
        return SeasonalWindow(mode, lagged, None, read.rows, note)
    sample = sample_rows(read.frame, config.monitor.max_rows, config.training.seed + 2)
    folder = monitoring_dir(ctx.settings.artifact_root, config.name, cur.window)
    path = write_parquet_atomic(sample, folder / "seasonal_reference.parquet")
    return SeasonalWindow(mode, lagged, str(path), read.rows)


def seasonal_inputs(seasonal: SeasonalWindow | None) -> tuple[pd.DataFrame | None, SeasonalEvidence]:
    """The seasonal reference's rows (None: not used) and what the evidence records of it."""
    if seasonal is None or seasonal.mode == "none":
        return None, NO_SEASONAL
    frame = read_snapshot(seasonal.path) if seasonal.path else None
    return frame, SeasonalEvidence(seasonal.mode, seasonal.rows if frame is not None else 0, seasonal.note)
