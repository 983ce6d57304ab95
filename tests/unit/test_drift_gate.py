"""Unit tests for include.retraining.drift.decision: the retrain decision of a monitoring run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from include.retraining.config.model import MonitorConfig
from include.retraining.drift.decision import DriftDecision, MonitorOutcome, decide, decision_label
from include.retraining.drift.summary import ColumnDrift, DriftInputError, DriftSummary

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def _summary(drifted: list[str], total: int = 6, n_current: int = 5000) -> DriftSummary:
    columns = {
        f"f{i}": ColumnDrift(
            f"f{i}",
            "numeric",
            "Wasserstein distance (normed)",
            0.5 if f"f{i}" in drifted else 0.01,
            0.1,
            f"f{i}" in drifted,
        )
        for i in range(total)
    }
    return DriftSummary(
        n_reference=5000,
        n_current=n_current,
        columns=columns,
        drifted_columns=list(drifted),
        drift_share=len(drifted) / total,
    )


def _decide(summary: DriftSummary | None = None, **overrides) -> object:
    arguments = {
        "prediction_psi": None,
        "performance_drop": None,
        "config": MonitorConfig(),
        "last_trigger_at": None,
        "now": NOW,
    }
    arguments.update(overrides)
    return decide(summary, **arguments)


@pytest.mark.parametrize(
    ("drifted", "expected"),
    [([], False), (["f0"], False), (["f0", "f1"], True), (["f0", "f1", "f2"], True)],
    ids=["none", "1/6", "2/6 (0.33)", "3/6"],
)
def test_dataset_drift_share_threshold(drifted, expected):
    decision = _decide(_summary(drifted))

    assert decision.drift_detected is expected
    assert decision.retrain is expected


def test_dataset_drift_reason_lists_counts_share_and_columns():
    decision = _decide(_summary(["f2", "f0", "f1"]))

    assert decision.reasons == ["dataset drift: 3/6 features drifted (0.50 >= 0.30): f2, f0, f1"]
    assert decision.blocked_by is None


def test_a_drifted_critical_feature_is_enough():
    decision = _decide(_summary(["f4"]), config=MonitorConfig(critical_features=["f4"]))

    assert decision.retrain is True
    assert decision.reasons == ["critical feature drift: f4 (Wasserstein distance (normed) 0.5 >= 0.1)"]


def test_unknown_critical_feature_raises():
    with pytest.raises(DriftInputError, match="typo_column"):
        _decide(_summary([]), config=MonitorConfig(critical_features=["typo_column"]))


@pytest.mark.parametrize(
    ("hours_since", "retrain"),
    [(1, False), (23.9, False), (24, True), (72, True)],
)
def test_cooldown_blocks_retrain_inside_the_window_only(hours_since, retrain):
    decision = _decide(_summary(["f0", "f1"]), last_trigger_at=NOW - timedelta(hours=hours_since))

    assert decision.drift_detected is True
    assert decision.retrain is retrain
    assert (decision.blocked_by is not None) is (not retrain)
    if not retrain:
        assert decision.blocked_by.startswith("cooldown: last drift-triggered retrain at 2026-03-0")


def test_trigger_after_the_logical_time_blocks_a_backfill():
    decision = _decide(_summary(["f0", "f1"]), last_trigger_at=NOW + timedelta(days=3))

    assert decision.retrain is False
    assert "after this run's logical time" in decision.blocked_by


def test_running_retrain_blocks_but_reports_drift():
    decision = _decide(_summary(["f0", "f1"]), retrain_running=True)

    assert (decision.drift_detected, decision.retrain) == (True, False)
    assert decision.blocked_by == "retrain already running"


def test_no_drift_is_never_blocked():
    decision = _decide(_summary([]), retrain_running=True, last_trigger_at=NOW - timedelta(hours=1))

    assert (decision.drift_detected, decision.retrain, decision.blocked_by) == (False, False, None)


@pytest.mark.parametrize(("psi", "expected"), [(0.05, False), (0.2, True), (0.6, True)])
def test_prediction_drift_threshold(psi, expected):
    decision = _decide(_summary([]), prediction_psi=psi)

    assert decision.retrain is expected


@pytest.mark.parametrize(("drop", "expected"), [(None, False), (-0.1, False), (0.05, False), (0.0501, True)])
def test_performance_drop_must_exceed_the_threshold(drop, expected):
    decision = _decide(_summary([]), performance_drop=drop)

    assert decision.retrain is expected


def test_performance_reason_words_the_metric_direction():
    higher = _decide(None, performance_drop=0.08)
    lower = _decide(None, performance_drop=0.08, higher_is_better=False)

    assert higher.reasons == ["performance drift: primary metric fell by 0.0800 (> 0.0500)"]
    assert lower.reasons == ["performance drift: primary metric rose by 0.0800 (> 0.0500)"]


def test_small_current_window_is_not_judged_for_data_or_prediction_drift():
    decision = _decide(_summary(["f0", "f1", "f2"], n_current=150), prediction_psi=0.9)

    assert decision.drift_detected is False
    assert "150 rows (< min_rows 200)" in decision.notes[0]


def test_mixing_naive_and_aware_times_raises():
    with pytest.raises(ValueError, match="timezone"):
        _decide(_summary(["f0", "f1"]), last_trigger_at=datetime(2026, 3, 1))


def test_decision_to_dict_is_json():
    decision = _decide(_summary(["f0", "f1"]), retrain_running=True)

    assert json.loads(json.dumps(decision.to_dict()))["blocked_by"] == "retrain already running"


def test_a_later_monitored_window_blocks_a_past_window_with_a_reason():
    decision = _decide(_summary(["f0", "f1"]), later_window_end=NOW + timedelta(days=7))

    assert (decision.drift_detected, decision.retrain) == (True, False)
    assert decision.blocked_by.startswith("past window: monitoring already ran for a later window")


def test_a_rerun_of_the_newest_window_is_not_blocked_as_past():
    decision = _decide(_summary(["f0", "f1"]), later_window_end=NOW)

    assert decision.retrain is True and decision.blocked_by is None


@pytest.mark.parametrize(
    ("retrain", "detected", "outcome"),
    [(True, True, MonitorOutcome.RETRAIN), (False, True, MonitorOutcome.BLOCKED), (False, False, MonitorOutcome.NONE)],
)
def test_outcome_and_its_label_read_back_from_xcom(retrain, detected, outcome):
    decision = DriftDecision(retrain=retrain, drift_detected=detected, reasons=[], blocked_by=None)

    assert decision.outcome is outcome
    assert decision_label(json.loads(json.dumps(decision.to_dict()))) == outcome.value
