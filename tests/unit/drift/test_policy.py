"""Unit tests for include.retraining.drift.policy, the trigger policy, through the decision it
feeds (`drift.decide`): importance over the share of drifted columns, performance first, the
critical features, the PSI limit of small windows, persistence, the loop guard, the seasonal
reference's notes, and the records read back from `model_monitoring` rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from include.retraining.config import MonitorConfig, TriggerConfig
from include.retraining.drift import DriftDecision, DriftEvidence, SeasonalEvidence, WindowRecord, psi_threshold
from include.retraining.drift.policy import records_from_rows
from tests.unit.drift.support import IMPORTANCE, NOW, decide_on, evidence_of

pytestmark = pytest.mark.unit

SEASON_AGO = SeasonalEvidence("season_ago", 5000)


def test_important_drift_retrains_and_unimportant_drift_alone_does_not():
    assert decide_on(evidence_of({"a": 0.5, "b": 0.5})).retrain
    unimportant = decide_on(evidence_of({"d": 0.8, "e": 0.8}))
    assert not unimportant.retrain and not unimportant.drift_detected


def test_performance_first_reports_moderate_drift_but_does_not_retrain():
    moderate = decide_on(evidence_of({"a": 0.3}), drop=0.0)  # weighted 0.135: between the two levels

    assert not moderate.retrain and "reported, not retrained" in moderate.notes[0]
    assert decide_on(evidence_of({"a": 0.3}), drop=None).retrain  # no matured labels: drift decides
    assert decide_on(evidence_of({"a": 0.5, "b": 0.5}), drop=0.0).retrain  # large drift retrains anyway
    assert decide_on(evidence_of({}), drop=0.2).retrain  # performance drift


def test_a_declared_critical_feature_retrains_even_when_performance_holds():
    decision = decide_on(evidence_of({"d": 0.3}), drop=0.0, monitor=MonitorConfig(critical_features=["d"]))

    assert decision.retrain and decision.reasons[0].startswith("critical feature drift: d")


def test_prediction_psi_threshold_grows_for_small_windows():
    assert psi_threshold(0.2, 20_000, 500) == pytest.approx(0.2 + 9 * (1 / 20_000 + 1 / 500))
    assert not decide_on(evidence_of({}, n_current=500), psi=0.21).retrain
    assert decide_on(evidence_of({}, n_current=500), psi=0.3).retrain


def _trigger_record(days_ago: float, version: str = "3", signature=("a", "b")) -> WindowRecord:
    return WindowRecord(NOW - timedelta(days=days_ago), version, True, True, frozenset(signature))


def test_loop_guard_allows_one_retrigger_after_the_wait_then_waits_for_a_change():
    found = evidence_of({"a": 0.5, "b": 0.5})

    assert "loop guard" in decide_on(found, [_trigger_record(7)]).blocked_by
    assert decide_on(found, [_trigger_record(14)]).retrain
    twice = decide_on(found, [_trigger_record(28), _trigger_record(14)])
    assert "loop guard: 2 retrains" in twice.blocked_by
    assert decide_on(evidence_of({"a": 0.5, "b": 0.5, "c": 0.4}), [_trigger_record(28), _trigger_record(14)]).retrain
    assert decide_on(found, [_trigger_record(28, version="2"), _trigger_record(14, version="2")]).retrain
    assert "loop guard" in decide_on(found, [_trigger_record(7)], psi=0.5).blocked_by  # PSI follows the columns
    held = decide_on(found, [_trigger_record(14)], drop=0.0)  # large drift, but the champion still performs
    assert "still performs" in held.blocked_by


def test_persistence_needs_k_of_the_last_n_runs():
    trigger = TriggerConfig(persistence_k=2, persistence_n=3)
    found = evidence_of({"a": 0.5, "b": 0.5})
    quiet = [WindowRecord(NOW - timedelta(days=d), "3", False, False) for d in (14, 7)]

    assert "persistence" in decide_on(found, quiet, trigger=trigger).blocked_by
    noisy = [quiet[0], WindowRecord(NOW - timedelta(days=7), "3", False, True)]
    assert decide_on(found, noisy, trigger=trigger).retrain


def test_records_from_rows_and_the_decision_signature():
    rows = [
        {
            "window_end": NOW,
            "champion_version": 3,
            "decision": "retrain",
            "drift_detected": True,
            "drift_signature": "a,prediction",
        },
        {
            "window_end": NOW,
            "champion_version": "3",
            "decision": "none",
            "drift_detected": False,
            "drift_signature": None,
        },
    ]

    records = records_from_rows(rows)

    assert records[0].signature == {"a", "prediction"} and records[0].triggered and records[1].signature == set()
    assert records[0].champion_version == "3"
    decision = decide_on(evidence_of({"a": 0.5, "b": 0.5}))
    assert DriftDecision.from_dict(decision.to_dict()).signature == ["a", "b"]


def test_a_pending_retrain_is_not_a_trigger_the_loop_guard_counts():
    rows = [{"window_end": NOW, "champion_version": "3", "decision": "retrain_pending", "drift_detected": True}]

    assert not records_from_rows(rows)[0].triggered


def test_trigger_config_rejects_inconsistent_values():
    with pytest.raises(ValidationError, match="persistence_k"):
        TriggerConfig(persistence_k=3, persistence_n=2)
    with pytest.raises(ValidationError, match="weighted_drift_large"):
        TriggerConfig(weighted_drift=0.3, weighted_drift_large=0.2)


# The seasonal reference (`trigger.seasonal_reference`), as the decision notes say what it did.


def test_the_notes_say_which_columns_the_season_explains_and_the_decision_follows_the_rest():
    columns = evidence_of({"b": 0.4}).columns
    masked = {**columns, "a": columns["a"].__class__("a", 0.0, 0.0, 0.4, IMPORTANCE["a"], False, True)}
    found = DriftEvidence("3", 20_000, 5000, masked, SEASON_AGO)

    decision = decide_on(found)

    assert decision.retrain and decision.signature == ["b"]
    assert any("seasonal reference (season_ago, 5000 rows): a drifted" in note for note in decision.notes)


def test_without_enough_history_the_notes_say_so_and_the_decision_is_as_without_the_option():
    note = "seasonal reference (season_ago) not used: ... not enough history"
    plain = evidence_of({"a": 0.4})
    missing = evidence_of({"a": 0.4}, seasonal=SeasonalEvidence("season_ago", 0, note))

    with_note, without = decide_on(missing), decide_on(plain)

    assert note in with_note.notes and note not in without.notes
    assert (with_note.retrain, with_note.reasons, with_note.signature) == (
        without.retrain,
        without.reasons,
        without.signature,
    )
