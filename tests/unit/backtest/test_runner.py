"""The journal around each replayed run: a journaled run is not run again, and a run redone
after a kill that came between its promotion and its journal line is still recorded as the
promotion it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.backtest import Journal
from include.retraining.backtest.runner import _journaled

pytestmark = pytest.mark.unit

V1, V2 = {"version": "1", "uri": "models:/m__backtest/1"}, {"version": "2", "uri": "models:/m__backtest/2"}


class _Registry:
    """The isolated champion as the steps left it."""

    def __init__(self, champion: dict[str, str]) -> None:
        self.now = champion

    def champion(self) -> dict[str, str]:
        return self.now


def test_a_journaled_run_is_not_run_again(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, {})
    journal.add_run("retrain@t1", {"kind": "retrain", "outcome": "blocked", "champion_after": V1})

    found = _journaled(_Registry(V1), journal, "retrain@t1", lambda: pytest.fail("ran again"))

    assert found["outcome"] == "blocked"


def test_a_run_redone_after_its_promotion_is_recorded_as_the_promotion(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, {})
    journal.add_run("retrain@t1", {"kind": "retrain", "outcome": "promoted", "champion_after": V1})
    # Killed after moving champion to v2: the redo finds its model already champion.
    redo = {"kind": "retrain", "outcome": "unchanged", "reason": "version 2 ... is already champion"}

    record = _journaled(_Registry(V2), journal, "retrain@t2", lambda: redo)

    assert record["outcome"] == "promoted" and "earlier, killed attempt" in record["reason"]
    assert Journal.open(tmp_path, {}).runs["retrain@t2"]["champion_after"] == V2


def test_a_blocked_run_that_moved_nothing_stays_blocked(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, {})
    journal.add_run("retrain@t1", {"kind": "retrain", "outcome": "promoted", "champion_after": V1})

    record = _journaled(
        _Registry(V1), journal, "retrain@t2", lambda: {"kind": "retrain", "outcome": "blocked", "reason": "x"}
    )

    assert record["outcome"] == "blocked"
