"""The moment a score_<model> run scores up to, by how the run was started."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from include.orchestration.score_tasks import scoring_run
from include.retraining.config import load_model_config
from include.retraining.score import scoring_interval
from tests.support import REPO

pytestmark = pytest.mark.unit

CONFIG = load_model_config(REPO / "include" / "models" / "churn.yaml")
FIRE = datetime(2026, 3, 2, 4, tzinfo=UTC)
PROMOTED = datetime(2026, 3, 2, 15, 20, tzinfo=UTC)


def _context(params: dict | None = None, events: bool = False) -> dict:
    run = SimpleNamespace(dag_id="score_churn", run_id="r", run_after=PROMOTED if events else FIRE, run_type="x")
    event = SimpleNamespace(timestamp=PROMOTED, extra={"version": "7", "window_end": "2026-02-23T03:00:00+00:00"})
    triggering = {"churn_champion": [event]} if events else {}
    return {
        "params": params or {},
        "dag_run": run,
        "triggering_asset_events": triggering,
        "data_interval_end": None if events else FIRE,
    }


def test_a_scheduled_run_scores_the_interval_ending_at_its_fire() -> None:
    run = scoring_run(CONFIG, _context())

    assert run.window_end == FIRE
    assert scoring_interval(CONFIG.scoring.schedule, run.window_end).end == FIRE


def test_a_run_started_by_the_champion_asset_rescores_the_latest_complete_interval() -> None:
    # The event's extra (a training window end, say) is not the scoring moment: the trigger time is.
    run = scoring_run(CONFIG, _context(events=True))

    assert run.window_end == PROMOTED and run.trigger == "champion moved"
    assert scoring_interval(CONFIG.scoring.schedule, run.window_end).end == FIRE


def test_the_window_end_param_picks_a_past_interval_whatever_started_the_run() -> None:
    run = scoring_run(CONFIG, _context({"window_end": "2026-02-20T04:00:00+00:00"}, events=True))

    assert run.window_end == datetime(2026, 2, 20, 4, tzinfo=UTC)
