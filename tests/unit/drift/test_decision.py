"""Unit tests for include.retraining.drift.decision: the retrain decision of a monitoring run, on
the path the monitor takes (`decide(evidence, ..., history=History(...))` with the trigger policy's
evidence written by hand): the policy's reasons, the blockers it adds (a retrain running, the
cooldown, a later window), windows too small to judge, and the decision across XCom."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import MonitorConfig, TriggerConfig
from include.retraining.drift import (
    DriftDecision,
    History,
    HoldKind,
    MonitorOutcome,
    WindowRecord,
    column_tests,
    drift_evidence,
    psi_threshold,
)
from tests.unit.drift.support import NOW, decide_on, evidence_of

pytestmark = pytest.mark.unit

IMPORTANT = {"a": 0.5, "b": 0.5}  # importance-weighted drift 0.4: retrains


@pytest.mark.parametrize(
    ("drifted", "noted"),
    [({}, False), ({"d": 0.8}, False), ({"d": 0.8, "e": 0.8}, True), ({"c": 0.1, "d": 0.8, "e": 0.8}, True)],
    ids=["none", "1/5", "2/5 (0.40)", "3/5"],
)
def test_a_share_of_unimportant_drifted_columns_is_noted_never_retrained(drifted, noted):
    decision = decide_on(evidence_of(drifted))

    assert (decision.drift_detected, decision.retrain) == (False, False)
    assert any("features drifted" in note and ">= drift_share 0.30" in note for note in decision.notes) is noted


def test_the_data_drift_reason_lists_the_weighted_drift_and_the_columns_most_important_first():
    decision = decide_on(evidence_of({"b": 0.5, "a": 0.3, "e": 0.5}))

    assert decision.reasons == [
        "importance-weighted drift 0.335 >= 0.100: b (effect 0.500, q 0, importance 0.35), "
        "a (effect 0.300, q 0, importance 0.45), e (effect 0.500, q 0, importance 0.05)"
    ]
    assert decision.blocked_by is None and decision.signature == ["a", "b", "e"]


def test_a_drifted_critical_feature_is_enough():
    decision = decide_on(evidence_of({"d": 0.3}), monitor=MonitorConfig(critical_features=["d"]))

    assert decision.retrain is True
    assert decision.reasons == ["critical feature drift: d (effect 0.300, q 0, importance 0.05)"]


def test_a_critical_feature_that_is_not_monitored_is_noted_and_the_rest_decides():
    monitor = MonitorConfig(critical_features=["typo_column", "d"])

    decision = decide_on(evidence_of({"d": 0.3}), monitor=monitor)

    assert "critical features not compared: typo_column" in decision.notes
    assert decision.retrain and decision.reasons[0].startswith("critical feature drift: d")


def test_a_shift_in_critical_features_retrains_while_unimportant_drift_alone_does_not():
    rng = np.random.default_rng(2)
    names = [f"num_{i:02d}" for i in range(20)]
    reference = pd.DataFrame({c: rng.normal(size=3000) for c in names})
    current = pd.DataFrame({c: rng.normal(0.5 if c in ("num_03", "num_07") else 0.0, 1, 3000) for c in names})
    found = drift_evidence(
        column_tests(reference, current, names, []),
        dict.fromkeys(names, 1 / 20),  # the champion uses every column alike: 2 columns weigh 0.05
        TriggerConfig(),
        champion_version="3",
        n_reference=3000,
        n_current=3000,
    )

    with_critical = decide_on(found, monitor=MonitorConfig(critical_features=["num_03", "num_07"]))
    share_only = decide_on(found)

    assert sorted(found.drifted) == ["num_03", "num_07"]
    assert with_critical.retrain is True and with_critical.reasons[0].startswith("critical feature drift: ")
    assert share_only.drift_detected is False


@pytest.mark.parametrize(("hours_since", "retrain"), [(1, False), (23.9, False), (24, True), (72, True)])
def test_cooldown_blocks_retrain_inside_the_window_only(hours_since, retrain):
    decision = decide_on(evidence_of(IMPORTANT), last_trigger_at=NOW - timedelta(hours=hours_since))

    assert decision.drift_detected is True
    assert decision.retrain is retrain
    assert (decision.blocked_by is not None) is (not retrain)
    if not retrain:
        assert decision.blocked_by.startswith("cooldown: last drift-triggered retrain at 2026-03-0")


def test_trigger_after_the_logical_time_blocks_a_backfill():
    decision = decide_on(evidence_of(IMPORTANT), last_trigger_at=NOW + timedelta(days=3))

    assert decision.retrain is False
    assert "after this run's logical time" in decision.blocked_by


def test_running_retrain_blocks_but_reports_drift():
    decision = decide_on(evidence_of(IMPORTANT), retrain_running=True)

    assert (decision.drift_detected, decision.retrain) == (True, False)
    assert decision.blocked_by == "retrain already running"


def test_no_drift_is_never_blocked():
    decision = decide_on(
        evidence_of({}), retrain_running=True, last_trigger_at=NOW - timedelta(hours=1), latest_end=NOW + timedelta(7)
    )

    assert (decision.drift_detected, decision.retrain, decision.blocked_by) == (False, False, None)


LIMIT = psi_threshold(0.2, 20_000, 5000)  # 0.2 and the PSI of two samples of one distribution


@pytest.mark.parametrize(("psi", "expected"), [(0.05, False), (LIMIT - 1e-6, False), (LIMIT, True), (0.6, True)])
def test_prediction_drift_threshold(psi, expected):
    decision = decide_on(evidence_of({}), psi=psi)

    assert decision.retrain is expected
    assert (decision.signature == ["prediction"]) is expected


@pytest.mark.parametrize(("drop", "expected"), [(None, False), (-0.1, False), (0.05, False), (0.0501, True)])
def test_performance_drop_must_exceed_the_threshold(drop, expected):
    decision = decide_on(evidence_of({}), drop=drop)

    assert decision.retrain is expected
    assert ("performance not evaluated: no matured labels" in decision.notes) is (drop is None)


def test_the_performance_reason_names_the_drop_and_its_limit():
    decision = decide_on(evidence_of({}), drop=0.08)

    assert decision.reasons == ["performance drift: primary metric worse by 0.0800 (> 0.0500)"]
    assert decision.signature == ["performance"]


def test_small_current_window_is_not_judged_for_data_or_prediction_drift():
    small = evidence_of({"a": 0.5, "b": 0.5, "c": 0.5}, n_current=150)

    decision = decide_on(small, psi=0.9)
    on_labels = decide_on(small, psi=0.9, drop=0.2)

    assert decision.drift_detected is False
    assert any("150 rows (< min_rows 200)" in note for note in decision.notes)
    assert on_labels.retrain and on_labels.signature == ["performance"]  # matured labels still judged


def test_mixing_naive_and_aware_times_raises():
    with pytest.raises(ValueError, match="timezone"):
        decide_on(evidence_of(IMPORTANT), last_trigger_at=datetime(2026, 3, 1))


def test_decision_to_dict_is_json():
    decision = decide_on(evidence_of(IMPORTANT), retrain_running=True)

    assert json.loads(json.dumps(decision.to_dict()))["blocked_by"] == "retrain already running"


def test_a_later_monitored_window_blocks_a_past_window_with_a_reason():
    decision = decide_on(evidence_of(IMPORTANT), latest_end=NOW + timedelta(days=7))

    assert (decision.drift_detected, decision.retrain) == (True, False)
    assert decision.blocked_by.startswith("past window: monitoring already ran for a later window")


def test_a_rerun_of_the_newest_window_is_not_blocked_as_past():
    decision = decide_on(evidence_of(IMPORTANT), latest_end=NOW)

    assert decision.retrain is True and decision.blocked_by is None


def test_every_blocker_is_named():
    records = [WindowRecord(NOW - timedelta(days=7), "3", True, True, frozenset({"a", "b"}))]

    decision = decide_on(
        evidence_of(IMPORTANT), records, retrain_running=True, last_trigger_at=NOW - timedelta(hours=1)
    )

    assert decision.blocked_by.startswith("retrain already running; cooldown: last drift-triggered retrain at ")
    assert "; loop guard: the retrain triggered at " in decision.blocked_by


def test_history_reads_the_monitoring_rows_oldest_first():
    rows = [{"window_end": NOW - timedelta(days=7), "champion_version": 3, "decision": "retrain", "drift_detected": 1}]

    found = History.from_rows(rows, NOW - timedelta(days=7), NOW)

    assert found == History((WindowRecord(NOW - timedelta(days=7), "3", True, True),), NOW - timedelta(days=7), NOW)


@pytest.mark.parametrize(
    ("retrain", "detected", "outcome"),
    [(True, True, MonitorOutcome.RETRAIN), (False, True, MonitorOutcome.BLOCKED), (False, False, MonitorOutcome.NONE)],
)
def test_outcome_reads_back_from_xcom(retrain, detected, outcome):
    decision = DriftDecision(retrain=retrain, drift_detected=detected, reasons=[], blocked_by=None)

    back = DriftDecision.from_dict(json.loads(json.dumps(decision.to_dict())))

    assert back == decision and back.outcome is outcome and str(back.outcome) == outcome.value


def test_a_decision_from_before_the_signature_reads_back_with_none():
    older = {"retrain": True, "drift_detected": True, "reasons": ["r"], "blocked_by": None}

    assert DriftDecision.from_dict(older) == DriftDecision(True, True, ["r"], None, [], [])


def _trigger(days_ago: float) -> WindowRecord:
    return WindowRecord(NOW - timedelta(days=days_ago), "3", True, True, frozenset({"a", "b"}))


@pytest.mark.parametrize(
    ("kwargs", "kinds", "until"),
    [
        ({"retrain_running": True}, [HoldKind.RETRAIN_RUNNING], None),
        ({"last_trigger_at": NOW - timedelta(hours=1)}, [HoldKind.COOLDOWN], NOW + timedelta(hours=23)),
        ({"records": [_trigger(7)]}, [HoldKind.LOOP_GUARD], NOW + timedelta(days=7)),
        (
            {"records": [_trigger(0.5)], "last_trigger_at": NOW - timedelta(hours=12)},
            [HoldKind.COOLDOWN, HoldKind.LOOP_GUARD],
            NOW + timedelta(hours=12),
        ),
    ],
    ids=["running", "cooldown", "loop guard", "cooldown and loop guard"],
)
def test_a_warranted_retrain_held_back_names_each_hold_and_when_it_lifts(kwargs, kinds, until):
    decision = decide_on(evidence_of(IMPORTANT), **kwargs)

    assert decision.held_back and not decision.retrain
    assert [hold.kind for hold in decision.holds] == kinds
    assert decision.holds[0].until == until
    assert decision.blocked_by == "; ".join(hold.text for hold in decision.holds)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latest_end": NOW + timedelta(days=7), "last_trigger_at": NOW - timedelta(hours=1)},
        {"trigger": TriggerConfig(persistence_k=2, persistence_n=2), "last_trigger_at": NOW - timedelta(hours=1)},
        {},
    ],
    ids=["past window", "persistence", "not blocked"],
)
def test_a_retrain_stopped_by_more_than_a_hold_is_not_held_back(kwargs):
    decision = decide_on(evidence_of(IMPORTANT), **kwargs)

    assert not decision.held_back


def test_a_loop_guard_that_waits_for_a_change_has_no_moment_but_a_condition():
    decision = decide_on(evidence_of(IMPORTANT), [_trigger(28), _trigger(14)])

    (hold,) = decision.holds
    assert hold.until is None and "when the drift changes" in hold.lifts


def test_holds_cross_xcom_as_json_and_back():
    decision = decide_on(evidence_of(IMPORTANT), last_trigger_at=NOW - timedelta(hours=1), retrain_running=True)

    again = DriftDecision.from_dict(json.loads(json.dumps(decision.to_dict())))

    assert again == decision and again.held_back
