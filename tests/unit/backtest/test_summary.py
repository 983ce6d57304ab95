"""The backtest's figures from its journal: which model each policy served when, a window's
counts, and the summary of the three policies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.retraining.backtest import served_models, summarize, window_figures

pytestmark = pytest.mark.unit


def _at(day: int) -> str:
    return datetime(2026, 2, day, 3, tzinfo=UTC).isoformat()


def _retrain(day: int, outcome: str, champion: str | None, trigger: str = "schedule", **more) -> dict:
    after = {"version": champion, "uri": f"models:/m/{champion}"} if champion else None
    return {"kind": "retrain", "at": _at(day), "trigger": trigger, "outcome": outcome,
            "model_uri": f"run-{day}-{trigger}", "champion_after": after, "seconds": 10.0, "train_seconds": 8.0,
            **more}  # fmt: skip


def _monitor(day: int, trigger: bool, champion: str) -> dict:
    return {"kind": "monitor", "at": _at(day), "outcome": "retrain" if trigger else "none", "trigger": trigger,
            "champion_after": {"version": champion, "uri": f"models:/m/{champion}"}, "seconds": 2.0}  # fmt: skip


RUNS = [
    _retrain(2, "promoted", "1"),
    _monitor(9, False, "1"),
    _retrain(9, "blocked", "1"),
    _monitor(16, True, "1"),
    _retrain(16, "promoted", "2", trigger="drift"),
    _retrain(16, "unchanged", "2", reused=True),
    _retrain(23, "validation_failed", "2", model_uri=None),
]


def test_each_policy_serves_its_own_moves() -> None:
    moves = served_models(RUNS)

    assert [uri for _, uri in moves["policy"]] == ["models:/m/1", "models:/m/2"]
    assert moves["policy"][1][0] == datetime.fromisoformat(_at(16))
    assert moves["left_alone"] == moves["policy"][:1]
    # Every scheduled retrain that trained, promoted at once; a failed validation keeps the last one.
    assert [uri for _, uri in moves["every_cron"]] == ["run-2-schedule", "run-9-schedule", "run-16-schedule"]


def test_a_windows_counts_a_blocked_drift_retrain_as_a_false_alarm_and_a_reused_snapshot_as_no_retrain() -> None:
    blocked_drift = [
        _monitor(16, True, "1"),
        _retrain(16, "blocked", "1", trigger="drift"),
        _retrain(16, "unchanged", "1", reused=True),
    ]

    figures = window_figures(blocked_drift)

    assert (figures["drift_triggers"], figures["retrains"], figures["blocked"], figures["false_alarms"]) == (1, 1, 1, 1)
    assert figures["scheduled_retrains"] == 1 and figures["promotions"] == 0
    assert figures["task_seconds"] == 22.0 and figures["every_cron_seconds"] == 8.0


def _window(index: int, policy: float | None, left: float | None, cron: float | None, **figures) -> dict:
    base = {"drift_triggers": 0, "retrains": 1, "promotions": 0, "blocked": 1, "false_alarms": 0,
            "scheduled_retrains": 1, "task_seconds": 10.0, "every_cron_seconds": 8.0, "alerts": []}  # fmt: skip
    return {"index": index, "metric_policy": policy, "metric_left_alone": left, "metric_every_cron": cron,
            **base, **figures}  # fmt: skip


def test_the_summary_compares_the_policies_on_the_windows_all_three_served() -> None:
    windows = [
        _window(0, None, None, None, promotions=1, blocked=0, first_model_seconds=8.0),
        _window(1, 0.80, 0.80, 0.82),
        _window(2, 0.84, 0.78, 0.83, drift_triggers=1, retrains=2, promotions=1, blocked=0),
    ]

    summary = summarize(windows, "roc_auc", planned=4)

    assert summary["windows"] == 3 and summary["complete"] is False and summary["windows_compared"] == 2
    assert summary["metric_policy"] == pytest.approx(0.82)
    assert summary["metric_left_alone"] == pytest.approx(0.79)
    assert summary["metric_every_cron"] == pytest.approx(0.825)
    assert (summary["drift_triggers"], summary["retrains"], summary["promotions"], summary["blocked"]) == (1, 4, 2, 1)
    assert summary["task_seconds"] == 30.0 and summary["metric"] == "roc_auc"
    assert summary["policies"]["left_alone"] == {
        "mean_metric": pytest.approx(0.79), "retrains": 1, "promotions": 1, "blocked": 0, "false_alarms": 0,
        "task_seconds": 8.0,
    }  # fmt: skip
    assert (
        summary["policies"]["every_cron"]["retrains"] == 3 and summary["policies"]["every_cron"]["task_seconds"] == 24.0
    )
