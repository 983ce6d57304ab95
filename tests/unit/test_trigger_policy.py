"""Unit tests for the trigger policy: drift evidence (drift_evidence.py), its rules
(trigger_policy.py) and how drift_gate.decide applies them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from include.retraining.config.monitor import MonitorConfig
from include.retraining.config.trigger import TriggerConfig
from include.retraining.drift.decision import DriftDecision, decide
from include.retraining.drift.evidence import (
    ColumnEvidence,
    DriftEvidence,
    benjamini_hochberg,
    column_tests,
    evidence,
    score_sensitivity,
)
from include.retraining.drift.policy import WindowRecord, psi_threshold, records_from_rows

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
IMPORTANCE = {"a": 0.45, "b": 0.35, "c": 0.1, "d": 0.05, "e": 0.05}


def _evidence(drifted: dict[str, float], n_current: int = 5000, version: str = "3") -> DriftEvidence:
    columns = {
        name: ColumnEvidence(
            name,
            0.0 if name in drifted else 0.5,
            0.0 if name in drifted else 0.9,
            drifted.get(name, 0.01),
            share,
            name in drifted,
        )
        for name, share in IMPORTANCE.items()
    }
    return DriftEvidence(version, 20_000, n_current, columns)


def _decide(found: DriftEvidence, history=(), drop=None, psi=0.01, monitor=None, trigger=None, now=NOW):
    return decide(
        None,
        prediction_psi=psi,
        performance_drop=drop,
        config=monitor or MonitorConfig(),
        last_trigger_at=None,
        now=now,
        evidence=found,
        history=history,
        trigger=trigger or TriggerConfig(),
    )


def test_benjamini_hochberg_matches_scipy():
    from scipy.stats import false_discovery_control

    p = np.random.default_rng(3).uniform(size=40) ** 3

    np.testing.assert_allclose(benjamini_hochberg(p), false_discovery_control(p, method="bh"))
    assert benjamini_hochberg([float("nan")]).tolist() == [1.0]


def test_column_tests_find_a_shift_and_ignore_noise():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {"x": rng.normal(size=20_000), "y": rng.normal(size=20_000), "k": rng.choice(list("ab"), 20_000)}
    )
    cur = pd.DataFrame({"x": rng.normal(0.5, 1, 5000), "y": rng.normal(size=5000), "k": rng.choice(list("abz"), 5000)})

    tests = column_tests(ref, cur, ["x", "y"], ["k"])

    assert tests["x"][0] < 1e-10 and tests["x"][1] == pytest.approx(0.5, abs=0.05)
    assert tests["y"][0] > 0.001 and tests["y"][1] < 0.05
    assert tests["k"][0] < 1e-10 and tests["k"][1] == pytest.approx(1 / 3, abs=0.03)  # a new category


def test_a_significant_column_below_the_effect_floor_is_not_drifted():
    found = evidence(
        {"x": (1e-9, 0.05), "y": (1e-9, 0.3)},
        {"x": 0.5, "y": 0.5},
        TriggerConfig(),
        champion_version="1",
        n_reference=10,
        n_current=10,
    )

    assert found.drifted == ["y"] and found.weighted_drift == pytest.approx(0.15)


def test_score_sensitivity_ranks_the_columns_the_scores_depend_on():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"strong": rng.normal(size=3000), "weak": rng.normal(size=3000), "none": rng.normal(size=3000)}
    )

    shares = score_sensitivity(
        lambda f: 2 * f["strong"].to_numpy() + 0.2 * f["weak"].to_numpy(), frame, list(frame.columns), rows=1000, seed=0
    )

    assert shares["strong"] > 0.85 and shares["none"] == 0.0 and sum(shares.values()) == pytest.approx(1.0)


def test_evidence_round_trips_through_a_dict():
    found = _evidence({"a": 0.5})

    assert DriftEvidence.from_dict(found.to_dict()) == found


def test_important_drift_retrains_and_unimportant_drift_alone_does_not():
    assert _decide(_evidence({"a": 0.5, "b": 0.5})).retrain
    unimportant = _decide(_evidence({"d": 0.8, "e": 0.8}))
    assert not unimportant.retrain and not unimportant.drift_detected


def test_performance_first_reports_moderate_drift_but_does_not_retrain():
    moderate = _decide(_evidence({"a": 0.3}), drop=0.0)  # weighted 0.135: between the two levels

    assert not moderate.retrain and "reported, not retrained" in moderate.notes[0]
    assert _decide(_evidence({"a": 0.3}), drop=None).retrain  # no matured labels: drift decides
    assert _decide(_evidence({"a": 0.5, "b": 0.5}), drop=0.0).retrain  # large drift retrains anyway
    assert _decide(_evidence({}), drop=0.2).retrain  # performance drift


def test_a_declared_critical_feature_retrains_even_when_performance_holds():
    decision = _decide(_evidence({"d": 0.3}), drop=0.0, monitor=MonitorConfig(critical_features=["d"]))

    assert decision.retrain and decision.reasons[0].startswith("critical feature drift: d")


def test_prediction_psi_threshold_grows_for_small_windows():
    assert psi_threshold(0.2, 20_000, 500) == pytest.approx(0.2 + 9 * (1 / 20_000 + 1 / 500))
    assert not _decide(_evidence({}, n_current=500), psi=0.21).retrain
    assert _decide(_evidence({}, n_current=500), psi=0.3).retrain


def _trigger_record(days_ago: float, version: str = "3", signature=("a", "b")) -> WindowRecord:
    return WindowRecord(NOW - timedelta(days=days_ago), version, True, True, frozenset(signature))


def test_loop_guard_allows_one_retrigger_after_the_wait_then_waits_for_a_change():
    found = _evidence({"a": 0.5, "b": 0.5})

    assert "loop guard" in _decide(found, [_trigger_record(7)]).blocked_by
    assert _decide(found, [_trigger_record(14)]).retrain
    twice = _decide(found, [_trigger_record(28), _trigger_record(14)])
    assert "loop guard: 2 retrains" in twice.blocked_by
    assert _decide(_evidence({"a": 0.5, "b": 0.5, "c": 0.4}), [_trigger_record(28), _trigger_record(14)]).retrain
    assert _decide(found, [_trigger_record(28, version="2"), _trigger_record(14, version="2")]).retrain
    assert "loop guard" in _decide(found, [_trigger_record(7)], psi=0.5).blocked_by  # PSI follows the columns
    held = _decide(found, [_trigger_record(14)], drop=0.0)  # large drift, but the champion still performs
    assert "still performs" in held.blocked_by


def test_persistence_needs_k_of_the_last_n_runs():
    trigger = TriggerConfig(persistence_k=2, persistence_n=3)
    found = _evidence({"a": 0.5, "b": 0.5})
    quiet = [WindowRecord(NOW - timedelta(days=d), "3", False, False) for d in (14, 7)]

    assert "persistence" in _decide(found, quiet, trigger=trigger).blocked_by
    noisy = [quiet[0], WindowRecord(NOW - timedelta(days=7), "3", False, True)]
    assert _decide(found, noisy, trigger=trigger).retrain


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
    decision = _decide(_evidence({"a": 0.5, "b": 0.5}))
    assert DriftDecision.from_dict(decision.to_dict()).signature == ["a", "b"]


def test_trigger_config_rejects_inconsistent_values():
    with pytest.raises(ValidationError, match="persistence_k"):
        TriggerConfig(persistence_k=3, persistence_n=2)
    with pytest.raises(ValidationError, match="weighted_drift_large"):
        TriggerConfig(weighted_drift=0.3, weighted_drift_large=0.2)


def test_recent_rows_read_an_old_table_and_the_signature_column_is_added(tmp_path):
    import sqlalchemy as sa

    from include.retraining.tables import monitoring as monitoring_table

    url = f"sqlite:///{tmp_path / 'w.db'}"
    old = pd.DataFrame(
        {
            "model": ["churn", "churn", "other"],
            "window_end": pd.to_datetime(["2026-02-23 02:00", "2026-03-02 02:00", "2026-02-23 02:00"]),
            "champion_version": ["3", "3", "1"],
            "decision": ["retrain", "none", "none"],
            "drift_detected": [True, False, False],
        }
    )
    old.to_sql("model_monitoring", sa.create_engine(url), index=False)

    rows = monitoring_table.recent_rows(url, "churn", NOW, 10)
    monitoring_table.add_missing_columns(url, "model_monitoring", pd.DataFrame({"drift_signature": ["a,b"]}))

    assert [r["window_end"] for r in rows] == [NOW - timedelta(days=7)]  # before NOW only, UTC-aware
    assert records_from_rows(rows)[0].triggered and rows[0]["drift_signature"] is None
    columns = {c["name"] for c in sa.inspect(sa.create_engine(url)).get_columns("model_monitoring")}
    assert "drift_signature" in columns
    assert monitoring_table.recent_rows(url, "churn", NOW + timedelta(days=1), 10)[-1]["drift_signature"] is None
