"""The backtest's page and picture from window records: every run's verdict and reason, escaped,
and a PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.backtest import plot_timeline, render_html, summarize
from include.retraining.config import load_model_config
from tests.support import REPO

pytestmark = pytest.mark.unit

CHURN = load_model_config(REPO / "include" / "models" / "churn.yaml")


def _window(index: int, runs: list[dict], metrics: tuple, **figures) -> dict:
    counts = {"drift_triggers": 0, "retrains": 1, "promotions": 0, "blocked": 0, "false_alarms": 0,
              "scheduled_retrains": 1, "task_seconds": 5.0, "every_cron_seconds": 4.0, "alerts": []}  # fmt: skip
    return {
        "index": index, "start": f"2026-02-0{index + 1}T03:00:00+00:00", "end": f"2026-02-0{index + 2}T03:00:00+00:00",
        "rows": 100, "runs": runs, "champion": "1", "served": {"policy": ["v1"], "left_alone": ["v1"], "every_cron": []},
        "metric_policy": metrics[0], "metric_left_alone": metrics[1], "metric_every_cron": metrics[2],
        **{**counts, **figures},
    }  # fmt: skip


WINDOWS = [
    _window(
        0,
        [
            {"kind": "monitor", "at": "2026-02-02T03:00:00+00:00", "outcome": "skipped", "reasons": ["no champion"]},
            {
                "kind": "retrain",
                "at": "2026-02-02T03:00:00+00:00",
                "trigger": "schedule",
                "outcome": "promoted",
                "version": "1",
                "reason": "first model <b>ok</b>",
                "gate": {"difference": None},
            },
        ],
        (None, None, None),
        promotions=1,
    ),  # fmt: skip
    _window(
        1,
        [
            {
                "kind": "monitor",
                "at": "2026-02-09T03:00:00+00:00",
                "outcome": "retrain",
                "drift_detected": True,
                "trigger": True,
                "reasons": ["critical feature drift: monthly_charges"],
            },
            {
                "kind": "retrain",
                "at": "2026-02-09T03:00:00+00:00",
                "trigger": "drift",
                "outcome": "blocked",
                "version": "2",
                "reason": "lower bound below 0",
                "gate": {"difference": 0.004, "lower": -0.002, "upper": 0.01},
            },
        ],
        (0.81, 0.81, 0.82),
        drift_triggers=1,
        blocked=1,
        false_alarms=1,
        alerts=[{"kind": "gate_blocked", "title": "churn__backtest: challenger not promoted", "text": ""}],
    ),  # fmt: skip
]


def test_the_page_shows_each_runs_verdict_reason_and_interval_escaped() -> None:
    page = render_html(CHURN, WINDOWS, summarize(WINDOWS, "roc_auc", planned=2))

    assert "monitor 2026-02-09 03:00: retrain (drift), trigger" in page
    assert "critical feature drift: monthly_charges" in page
    assert "drift retrain 2026-02-09 03:00: blocked v2" in page and "gain 0.0040 [-0.0020, 0.0100]" in page
    assert "first model &lt;b&gt;ok&lt;/b&gt;" in page and "<b>ok</b>" not in page
    assert "gate_blocked: churn__backtest: challenger not promoted" in page
    assert "2 of 2 windows (complete)" in page


def test_the_picture_is_written(tmp_path: Path) -> None:
    plot_timeline(tmp_path / "timeline.png", CHURN, WINDOWS)

    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
