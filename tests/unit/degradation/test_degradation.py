"""Unit tests for include.retraining.degradation: the episodes of the degradation alerts
(a metric beyond `monitor.alert_below`, a warranted retrain held back) read from earlier
`model_monitoring` rows, and the alerts of repeated monitoring runs recorded in a real outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from include.retraining.alerts import Outbox
from include.retraining.config import AlertLimit, load_model_config
from include.retraining.degradation import Episode, degradation_alerts, held_episode, limit_episode
from include.retraining.drift import DriftDecision, Hold, HoldKind
from include.retraining.monitor import Performance
from include.retraining.monitor import steps as monitor_steps
from include.retraining.warehouse import Database
from tests.unit.monitor.fakes import CHURN, END, RETRAIN, context, results, sqlite_url

pytestmark = pytest.mark.unit

FLOOR = AlertLimit("alert_below", "roc_auc", 0.75, higher_is_better=True)
DAY = timedelta(days=1)
COOLDOWN = Hold(HoldKind.COOLDOWN, "cooldown: last drift-triggered retrain at ...", END + 3 * DAY)
HELD = DriftDecision(False, True, ["critical"], COOLDOWN.text, holds=[COOLDOWN], held_back=True)
QUIET = DriftDecision(False, False, [], None)


def _row(days_ago: int, value: float | None, metric: str = "roc_auc", drift: bool = False, version: str = "3"):
    return {
        "window_end": END - days_ago * DAY,
        "metric": metric,
        "metric_current": value,
        "drift_detected": drift,
        "champion_version": version,
    }


@pytest.mark.parametrize(
    ("rows", "start"),
    [
        ([], 0),
        ([_row(1, 0.80)], 0),
        ([_row(2, 0.70), _row(1, 0.72)], 2),
        ([_row(3, 0.80), _row(2, 0.70), _row(1, None)], 2),
        ([_row(3, 0.70), _row(2, 0.80), _row(1, 0.74)], 1),
        ([_row(2, 0.70), _row(1, 0.30, metric="log_loss")], 2),
    ],
    ids=["first run", "starts", "continues", "no labels: continues", "recovered, fell again", "other metric"],
)
def test_the_floor_episode_runs_from_the_first_window_below_it(rows, start):
    episode = limit_episode(rows, END, FLOOR, 0.74)

    assert episode == Episode(END - start * DAY, new=start == 0)


@pytest.mark.parametrize("value", [0.75, 0.9, None, float("nan")], ids=["at", "above", "no labels", "nan"])
def test_a_value_at_or_above_the_floor_or_unmeasured_is_no_episode(value):
    assert limit_episode([_row(1, 0.70)], END, FLOOR, value) is None


def test_a_ceiling_of_a_loss_is_crossed_upwards():
    ceiling = AlertLimit("alert_above", "rmse", 4.0, higher_is_better=False)

    assert limit_episode([_row(1, 4.5, "rmse")], END, ceiling, 4.2) == Episode(END - DAY, new=False)
    assert limit_episode([_row(1, 4.5, "rmse")], END, ceiling, 3.9) is None


@pytest.mark.parametrize(
    ("rows", "start"),
    [
        ([], 0),
        ([_row(1, None)], 0),
        ([_row(3, None), _row(2, None, drift=True), _row(1, None, drift=True)], 2),
        ([_row(2, None, drift=True), _row(1, None, drift=True, version="2")], 0),
        ([_row(3, None, drift=True), _row(2, None), _row(1, None, drift=True)], 1),
    ],
    ids=["first run", "drift starts", "drift continues", "new champion", "drift ended, came back"],
)
def test_the_held_drift_episode_runs_from_the_first_drifted_window_of_the_champion(rows, start):
    episode = held_episode(rows, END, "3", HELD)

    assert episode == Episode(END - start * DAY, new=start == 0)


@pytest.mark.parametrize(
    "decision",
    [QUIET, RETRAIN, replace(HELD, held_back=False, blocked_by="persistence: ...; " + COOLDOWN.text)],
    ids=["no drift", "retrains", "persistence too"],
)
def test_a_run_that_is_not_held_back_is_no_episode(decision):
    assert held_episode([_row(1, None, drift=True)], END, "3", decision) is None


@pytest.fixture
def monitor_run(tmp_path: Path):
    """One monitoring run as the `report` task makes it: the row written, then the degradation
    alerts recorded in a real outbox (which records a key once); what each run recorded."""
    config = load_model_config(CHURN)
    config = config.model_copy(update={"monitor": config.monitor.model_copy(update={"alert_below": 0.75})})
    ctx = context(config, warehouse=sqlite_url(tmp_path))
    outbox = Outbox(Database(f"sqlite:///{tmp_path / 'outbox.db'}"))

    def run(days: int, value: float | None, decision: DriftDecision = QUIET) -> list[str]:
        perf = Performance("roc_auc", 0.8, 900, value, None if value is None else 0.8 - value, source="served")
        found = results(decision, END + days * DAY, perf=perf)
        monitor_steps.report(ctx, found)
        return [a.kind for a in degradation_alerts(ctx, found, {}) if outbox.record(a, "slack_alerts")]

    run.outbox = outbox
    return run


def test_repeated_runs_below_the_floor_record_one_alert_until_it_recovers_and_falls_again(monitor_run):
    sent = [monitor_run(0, 0.82), monitor_run(1, 0.70), monitor_run(2, 0.71), monitor_run(3, None)]
    sent += [monitor_run(2, 0.71)]  # a rerun of a window inside the episode
    sent += [monitor_run(4, 0.69), monitor_run(5, 0.80), monitor_run(6, 0.72), monitor_run(6, 0.72)]

    assert sent == [[], ["performance_limit"], [], [], [], [], [], ["performance_limit"], []]
    (first, second) = monitor_run.outbox.entries().values()
    assert first.alert.dedup_key == f"monitor_churn/episode:{(END + DAY).isoformat()}/performance_limit"
    assert second.alert.figures["since"] == (END + 6 * DAY).isoformat()


def test_repeated_held_back_runs_record_one_alert_per_drift(monitor_run):
    sent = [monitor_run(0, None, RETRAIN), monitor_run(1, None, HELD), monitor_run(2, None, HELD)]
    sent += [monitor_run(1, None, HELD)]  # the rerun of the window that alerted
    sent += [monitor_run(3, None, QUIET), monitor_run(4, None, HELD)]

    assert sent == [[], ["drift_held_back"], [], [], [], ["drift_held_back"]]
    (first, _) = monitor_run.outbox.entries().values()
    assert first.alert.figures["since"] == END.isoformat()  # the drift began with the run that retrained
    assert "lifts at " in first.alert.text() and "Next allowed: from " in first.alert.text()
