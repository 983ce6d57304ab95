"""Unit tests for include.retraining.drift.evidence: the per-column tests (checked against scipy),
Benjamini-Hochberg q-values, the effect floor, the champion's sensitivity, the seasonal reference
and the evidence's round trip through XCom (including evidence recorded before the seasonal
reference existed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import TriggerConfig
from include.retraining.drift import DriftEvidence, SeasonalEvidence, column_tests, drift_evidence, score_sensitivity
from include.retraining.drift.evidence import benjamini_hochberg
from tests.unit.drift.support import IMPORTANCE, evidence_of

pytestmark = pytest.mark.unit

SEASON_AGO = SeasonalEvidence("season_ago", 5000)


def test_benjamini_hochberg_matches_scipy():
    from scipy.stats import false_discovery_control

    p = np.random.default_rng(3).uniform(size=40) ** 3

    np.testing.assert_allclose(benjamini_hochberg(p), false_discovery_control(p, method="bh"))
    assert benjamini_hochberg([float("nan")]).tolist() == [1.0]


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two samples of unequal sizes, the second shifted by a little more each seed; every other
    seed rounded to one decimal, so values tie within and across the samples."""
    rng = np.random.default_rng(seed)
    scale = 1 + seed % 3
    ref, cur = rng.normal(0, scale, 800 + 400 * seed), rng.normal(0.03 * seed * scale, scale, 500 + 200 * seed)
    return (np.round(ref, 1), np.round(cur, 1)) if seed % 2 else (ref, cur)


@pytest.mark.parametrize("seed", range(6))
def test_the_numeric_test_agrees_with_scipy(seed):
    from scipy.stats import ks_2samp, kstwobign, wasserstein_distance

    ref, cur = _samples(seed)

    ((p_value, effect),) = column_tests(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), ["x"], []).values()

    scipy_ks = ks_2samp(ref, cur)
    n = ref.size * cur.size / (ref.size + cur.size)
    # The same KS statistic, under Kolmogorov's limiting distribution (as documented) ...
    assert p_value == pytest.approx(kstwobign.sf(np.sqrt(n) * scipy_ks.statistic), rel=1e-9)
    # ... which is a little larger (conservative) than scipy's finite-sample p-value at these sizes.
    assert scipy_ks.pvalue <= p_value <= 1.1 * scipy_ks.pvalue
    assert effect == pytest.approx(wasserstein_distance(ref, cur) / np.std(ref), rel=1e-9)


def test_identical_samples_have_no_drift_against_scipy():
    from scipy.stats import ks_2samp

    values = np.random.default_rng(9).normal(size=1000)

    ((p_value, effect),) = column_tests(pd.DataFrame({"x": values}), pd.DataFrame({"x": values}), ["x"], []).values()

    assert p_value == pytest.approx(ks_2samp(values, values, method="asymp").pvalue) and effect == 0.0


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


def test_a_feature_that_stopped_arriving_has_drifted_and_one_without_a_baseline_has_no_p_value():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [np.nan] * 3})
    cur = pd.DataFrame({"x": [np.nan] * 3, "y": [1.0, 2.0, 3.0]})

    tests = column_tests(ref, cur, ["x", "y"], [])

    assert tests["x"] == (0.0, 1.0) and np.isnan(tests["y"][0]) and tests["y"][1] == 0.0


def test_a_significant_column_below_the_effect_floor_is_not_drifted():
    found = drift_evidence(
        {"x": (1e-9, 0.05), "y": (1e-9, 0.3)},
        {"x": 0.5, "y": 0.5},
        TriggerConfig(),
        champion_version="1",
        n_reference=10,
        n_current=10,
    )

    assert found.drifted == ["y"] and found.weighted_drift == pytest.approx(0.15)
    assert found.columns["x"].q_value <= TriggerConfig().fdr and not found.columns["x"].drifted


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
    found = evidence_of({"a": 0.5}, seasonal=SEASON_AGO)

    assert DriftEvidence.from_dict(found.to_dict()) == found


# The seasonal reference (`trigger.seasonal_reference`): a column counts only when it drifted against both.


def _frame(rng: np.random.Generator, n: int, shift: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({c: rng.normal(shift.get(c, 0.0), 1.0, n) for c in IMPORTANCE})


def test_a_column_counts_only_when_it_drifted_against_both_references():
    rng = np.random.default_rng(0)
    reference = _frame(rng, 20_000, {})
    season_ago = _frame(rng, 5000, {"a": 0.5})  # "a" swings every season, "b" shifted this year
    current = _frame(rng, 5000, {"a": 0.5, "b": 0.5})
    names = list(IMPORTANCE)
    tests, again = column_tests(reference, current, names, []), column_tests(season_ago, current, names, [])
    trigger = TriggerConfig()
    sizes = {"champion_version": "3", "n_reference": 20_000, "n_current": 5000}

    alone = drift_evidence(tests, IMPORTANCE, trigger, **sizes)
    both = drift_evidence(tests, IMPORTANCE, trigger, **sizes, seasonal_tests=again, seasonal=SEASON_AGO)
    no_history = {**again, "b": (float("nan"), 0.0)}  # no "b" values a season ago: not explained by it
    unknown = drift_evidence(tests, IMPORTANCE, trigger, **sizes, seasonal_tests=no_history)

    assert alone.drifted == ["a", "b"]
    assert both.drifted == ["b"] and both.seasonal_masked == ["a"]
    assert unknown.drifted == ["b"]
    assert DriftEvidence.from_dict(both.to_dict()) == both


def test_evidence_recorded_before_the_option_reads_back_without_a_seasonal_reference():
    found = evidence_of({"a": 0.3})
    old = {key: value for key, value in found.to_dict().items() if key != "seasonal"}
    for column in old["columns"].values():
        column.pop("seasonal_masked")

    assert DriftEvidence.from_dict(old) == found and found.seasonal.mode == "none"
