"""The backtest's journal: what a killed run finished is read back; other arguments are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.backtest import Journal, JournalMismatch

pytestmark = pytest.mark.unit


def test_runs_and_windows_are_read_back_and_a_half_written_line_is_ignored(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, {"model": "churn"})
    journal.add_run("monitor@t1", {"kind": "monitor", "outcome": "none"})
    journal.add_window({"index": 0, "rows": 10})
    with journal.path.open("a") as handle:
        handle.write('{"record": "run", "key": "retrain@t2", "kin')  # killed mid-write

    again = Journal.open(tmp_path, {"model": "churn"})

    assert list(again.runs) == ["monitor@t1"] and again.runs["monitor@t1"]["outcome"] == "none"
    assert again.windows == {0: {"record": "window", "index": 0, "rows": 10}}
    again.add_run("retrain@t2", {"kind": "retrain"})
    assert list(Journal.open(tmp_path, {"model": "churn"}).runs) == ["monitor@t1", "retrain@t2"]


def test_a_folder_of_another_backtest_is_refused(tmp_path: Path) -> None:
    Journal.open(tmp_path, {"model": "churn", "end": "2026-03-01"})

    with pytest.raises(JournalMismatch, match="give another --out"):
        Journal.open(tmp_path, {"model": "churn", "end": "2026-04-01"})
