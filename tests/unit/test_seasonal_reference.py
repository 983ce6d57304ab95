"""Unit tests for the seasonal reference (`trigger.seasonal_reference`): the evidence counts a
column only when it drifted against both references, the decision notes say what it did, and the
monitor's step reads the lagged window (a small fake of the warehouse adapter)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.common.settings import load_settings
from include.retraining.common.windows import Window
from include.retraining.config.model import load_model_config
from include.retraining.config.trigger import TriggerConfig
from include.retraining.drift.evidence import DriftEvidence, SeasonalEvidence, column_tests, evidence
from include.retraining.monitor import seasonal as monitor_seasonal
from include.retraining.warehouse.sample import SampledWindow
from tests.unit.monitor_fakes import CHURN, END, context
from tests.unit.test_trigger_policy import IMPORTANCE, _decide, _evidence

pytestmark = pytest.mark.unit

SEASON_AGO = SeasonalEvidence("season_ago", 5000)


def _frame(rng: np.random.Generator, n: int, shift: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({c: rng.normal(shift.get(c, 0.0), 1.0, n) for c in IMPORTANCE})


def test_a_column_counts_only_when_it_drifted_against_both_references():
    rng = np.random.default_rng(0)
    reference = _frame(rng, 20_000, {})
    season_ago = _frame(rng, 5000, {"a": 0.5})  # "a" swings every season, "b" shifted this year
    current = _frame(rng, 5000, {"a": 0.5, "b": 0.5})
    names = list(IMPORTANCE)
    tests, again = column_tests(reference, current, names, []), column_tests(season_ago, current, names, [])
    trigger = TriggerConfig()

    alone = evidence(tests, IMPORTANCE, trigger, champion_version="3", n_reference=20_000, n_current=5000)
    both = evidence(
        tests,
        IMPORTANCE,
        trigger,
        champion_version="3",
        n_reference=20_000,
        n_current=5000,
        seasonal_tests=again,
        seasonal=SEASON_AGO,
    )

    no_history = {**again, "b": (float("nan"), 0.0)}  # no "b" values a season ago: not explained by it
    unknown = evidence(
        tests, IMPORTANCE, trigger, champion_version="3", n_reference=20_000, n_current=5000, seasonal_tests=no_history
    )

    assert alone.drifted == ["a", "b"]
    assert both.drifted == ["b"] and both.seasonal_masked == ["a"]
    assert unknown.drifted == ["b"]
    assert DriftEvidence.from_dict(both.to_dict()) == both


def test_evidence_recorded_before_the_option_reads_back_without_a_seasonal_reference():
    found = _evidence({"a": 0.3})
    old = {key: value for key, value in found.to_dict().items() if key != "seasonal"}
    for column in old["columns"].values():
        column.pop("seasonal_masked")

    assert DriftEvidence.from_dict(old) == found and found.seasonal.mode == "none"


def test_the_notes_say_which_columns_the_season_explains_and_the_decision_follows_the_rest():
    columns = _evidence({"b": 0.4}).columns
    masked = {**columns, "a": columns["a"].__class__("a", 0.0, 0.0, 0.4, IMPORTANCE["a"], False, True)}
    found = DriftEvidence("3", 20_000, 5000, masked, SEASON_AGO)

    decision = _decide(found)

    assert decision.retrain and decision.signature == ["b"]
    assert any("seasonal reference (season_ago, 5000 rows): a drifted" in note for note in decision.notes)


def test_without_enough_history_the_notes_say_so_and_the_decision_is_as_without_the_option():
    note = "seasonal reference (season_ago) not used: ... not enough history"
    plain = _evidence({"a": 0.4})
    missing = DriftEvidence("3", 20_000, 5000, plain.columns, SeasonalEvidence("season_ago", 0, note))

    with_note, without = _decide(missing), _decide(plain)

    assert note in with_note.notes and note not in without.notes
    assert (with_note.retrain, with_note.reasons, with_note.signature) == (
        without.retrain,
        without.reasons,
        without.signature,
    )


class _Warehouse:
    """The warehouse adapter's window read: answers `rows` rows and records the bounds asked."""

    def __init__(self, rows: int):
        self.rows, self.asked = rows, []

    def read_monitor_window(self, url, config, columns, start, end, max_rows):
        """Every row, as on a backend that cannot sample (the step samples what comes back)."""
        self.asked.append((start, end, list(columns)))
        stamps = pd.date_range(start, end, periods=self.rows + 1)[1:] if self.rows else []
        frame = pd.DataFrame({c: np.arange(self.rows, dtype=float) for c in columns} | {columns[0]: stamps})
        return SampledWindow(frame, self.rows)


@pytest.fixture
def window() -> dict:
    return {"window": Window(END - timedelta(days=7), END).to_dict()}


def _config(mode: str, max_rows: int = 20_000):
    config = load_model_config(CHURN)
    trigger = config.trigger.model_copy(update={"seasonal_reference": mode})
    return config.model_copy(
        update={"trigger": trigger, "monitor": config.monitor.model_copy(update={"max_rows": max_rows})}
    )


@pytest.mark.parametrize(("mode", "days"), [("season_ago", 364), ("previous_window", 7)])
def test_the_step_reads_the_lagged_window_and_keeps_a_sample(mode, days, window, tmp_path, monkeypatch):
    fake = _Warehouse(3000)
    monkeypatch.setattr(monitor_seasonal, "warehouse_sample", fake)
    config = _config(mode, max_rows=1000)
    ctx = context(config, load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}))

    found = monitor_seasonal.seasonal_reference(ctx, window)
    frame, seasonal = monitor_seasonal.seasonal_inputs(found)

    start, end, columns = fake.asked[0]
    assert (start, end) == (END - timedelta(days=7 + days), END - timedelta(days=days))
    assert columns == [config.source.timestamp_column, *config.features.columns]
    assert found["rows"] == 3000 and found["note"] == "" and Path(found["path"]).exists()
    assert len(frame) == 1000 and seasonal == SeasonalEvidence(mode, 3000)


def test_too_little_history_is_a_note_not_a_failure(window, tmp_path, monkeypatch):
    monkeypatch.setattr(monitor_seasonal, "warehouse_sample", _Warehouse(0))
    ctx = context(_config("season_ago"), load_settings({"RETRAINING_DATA_DIR": str(tmp_path)}))

    found = monitor_seasonal.seasonal_reference(ctx, window)
    frame, seasonal = monitor_seasonal.seasonal_inputs(found)

    assert found["path"] is None and frame is None
    assert "not enough history" in seasonal.note and "0 rows" in seasonal.note and seasonal.rows == 0


def test_off_reads_nothing(window, monkeypatch):
    monkeypatch.setattr(monitor_seasonal, "warehouse_sample", None)  # any read would fail

    found = monitor_seasonal.seasonal_reference(context(_config("none")), window)

    assert found == monitor_seasonal.OFF and monitor_seasonal.seasonal_inputs(found) == (None, SeasonalEvidence())
