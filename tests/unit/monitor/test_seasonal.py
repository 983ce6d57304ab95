"""Unit tests for the monitor's seasonal reference step (`trigger.seasonal_reference`): it reads
the lagged window from a real SQLite warehouse and keeps a sample of it beside the window's, says
so in a note when there is not enough history, and reads nothing when it is off. How the trigger
policy uses those rows is tested in tests/unit/drift (test_evidence, test_policy)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import load_window
from include.retraining.common import Window, load_settings
from include.retraining.config import load_model_config
from include.retraining.drift import SeasonalEvidence
from include.retraining.monitor import seasonal as monitor_seasonal
from tests.unit.monitor.fakes import CHURN, END, WINDOW, context, current_window, frame, sqlite_url

pytestmark = pytest.mark.unit


def _config(mode: str, max_rows: int = 20_000):
    config = load_model_config(CHURN)
    trigger = config.trigger.model_copy(update={"seasonal_reference": mode})
    return config.model_copy(
        update={"trigger": trigger, "monitor": config.monitor.model_copy(update={"max_rows": max_rows})}
    )


def _load(url: str, config, start, end, rows: int) -> None:
    """`rows` source rows spread over (start, end], plus one on each bound's outer side."""
    inside = pd.date_range(start, end, periods=rows + 1)[1:]
    stamps = pd.Series([start, *inside, end + timedelta(seconds=1)]).dt.tz_localize(None)
    load_window(
        url,
        config.source.table,
        frame(stamps, config.features.columns),
        start - timedelta(days=1),
        end + timedelta(days=1),
    )


@pytest.mark.parametrize(("mode", "days"), [("season_ago", 364), ("previous_window", 7)])
def test_the_step_reads_the_lagged_window_and_keeps_a_sample(mode, days, tmp_path):
    config = _config(mode, max_rows=1000)
    lagged = Window(END - timedelta(days=7 + days), END - timedelta(days=days))
    _load(sqlite_url(tmp_path), config, lagged.start, lagged.end, 3000)
    ctx = context(config, load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}), warehouse=sqlite_url(tmp_path))

    found = monitor_seasonal.seasonal_reference(ctx, current_window())
    rows, seasonal = monitor_seasonal.seasonal_inputs(found)

    assert found.window == lagged and found.rows == 3000 and found.note == ""
    assert Path(found.path).exists() and seasonal == SeasonalEvidence(mode, 3000)
    assert list(rows.columns) == [config.source.timestamp_column, *config.features.columns]
    stamps = pd.to_datetime(rows[config.source.timestamp_column], utc=True)
    assert len(rows) == 1000 and stamps.min() > lagged.start and stamps.max() <= lagged.end


def test_too_little_history_is_a_note_not_a_failure(tmp_path):
    config = _config("season_ago")
    _load(sqlite_url(tmp_path), config, WINDOW.start, WINDOW.end, 500)  # this window only: no season ago
    ctx = context(config, load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}), warehouse=sqlite_url(tmp_path))

    found = monitor_seasonal.seasonal_reference(ctx, current_window())
    rows, seasonal = monitor_seasonal.seasonal_inputs(found)

    assert found.path is None and rows is None and found.rows == 0
    assert "not enough history" in seasonal.note and "0 rows" in seasonal.note and seasonal.rows == 0


def test_off_reads_nothing():
    # The default context's warehouse holds no table: any read would raise.
    found = monitor_seasonal.seasonal_reference(context(_config("none")), current_window())

    assert found == monitor_seasonal.OFF
    assert monitor_seasonal.seasonal_inputs(found) == (None, SeasonalEvidence())
    assert monitor_seasonal.seasonal_inputs(None) == (None, SeasonalEvidence())
