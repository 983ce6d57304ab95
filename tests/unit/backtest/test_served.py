"""Which model served a row in the backtest is what production kept for it: with `scoring:`,
score_<model> scores grid intervals and every move of the champion rescores the latest complete
one, so a row keeps the prediction of the champion in force just before the fire after its
interval's end; without it, the model in force when the row arrived."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pandas as pd
import pytest

from include.retraining.backtest.served import ServedScorer
from include.retraining.backtest.summary import in_force
from include.retraining.common import Window
from include.retraining.config import ScoringConfig, load_model_config
from tests.support import REPO

pytestmark = pytest.mark.unit

CHURN = load_model_config(REPO / "include" / "models" / "churn.yaml")
WEEKLY = "0 3 * * 1"  # Mondays 03:00: 2 Feb, 9 Feb, 16 Feb 2026
WINDOW = Window(datetime(2026, 2, 2, 3, tzinfo=UTC), datetime(2026, 2, 9, 3, tzinfo=UTC))


def _scorer(scoring: str | None) -> ServedScorer:
    config = CHURN.model_copy(update={"scoring": ScoringConfig(schedule=scoring) if scoring else None})
    return ServedScorer(SimpleNamespace(config=config))


def _rows(*times: datetime) -> pd.DataFrame:
    return pd.DataFrame({"snapshot_at": [t.replace(tzinfo=None) for t in times]})


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_scored_row_is_final_at_the_fire_after_its_intervals_end() -> None:
    rows = _rows(_utc(2026, 2, 2, 4), _utc(2026, 2, 9, 3), _utc(2026, 2, 9, 3, 1))

    until = _scorer(WEEKLY).serving_times(rows)

    assert list(until) == [pd.Timestamp(_utc(2026, 2, 16, 3))] * 2 + [pd.Timestamp(_utc(2026, 2, 23, 3))]


def test_without_scoring_a_row_is_served_from_its_arrival() -> None:
    rows = _rows(_utc(2026, 2, 2, 4), _utc(2026, 2, 9, 3))

    assert list(_scorer(None).serving_times(rows)) == [
        pd.Timestamp(_utc(2026, 2, 2, 4)),
        pd.Timestamp(_utc(2026, 2, 9, 3)),
    ]


def test_a_promotion_at_the_windows_end_served_its_rows_when_score_model_rescores() -> None:
    moves = [(_utc(2026, 2, 2, 3), "v1"), (_utc(2026, 2, 9, 3), "v2"), (_utc(2026, 2, 16, 3), "v3")]
    rows = _rows(_utc(2026, 2, 3), _utc(2026, 2, 8))

    scored = in_force(moves, *_scorer(WEEKLY).served_between(rows, WINDOW))
    arrived = in_force(moves, *_scorer(None).served_between(rows, WINDOW))

    assert [uri for _, uri in scored] == ["v2"]  # v3 moved at the next fire: it rescored the next interval
    assert [uri for _, uri in arrived] == ["v1"]
