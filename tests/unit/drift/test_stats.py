"""Unit tests for include.retraining.drift.stats: the prediction PSI."""

from __future__ import annotations

import numpy as np
import pytest

from include.retraining.drift import DriftInputError, class_drift, prediction_drift

pytestmark = pytest.mark.unit


def test_psi_of_identical_score_distributions_is_near_zero():
    rng = np.random.default_rng(22)

    psi = prediction_drift(rng.beta(2, 5, 5000), rng.beta(2, 5, 5000))

    assert psi < 0.02


def test_psi_of_shifted_scores_crosses_the_significant_line():
    rng = np.random.default_rng(23)

    psi = prediction_drift(rng.beta(2, 5, 5000), rng.beta(3, 4, 5000))

    assert psi > 0.2


def test_psi_handles_constant_scores_and_nans():
    constant = np.full(1000, 0.3)
    with_nans = np.concatenate([constant, [np.nan, np.inf]])

    assert prediction_drift(constant, with_nans) == pytest.approx(0.0)
    assert prediction_drift(constant, np.full(1000, 0.7)) > 0.2


def test_psi_without_finite_scores_raises():
    with pytest.raises(DriftInputError, match="current"):
        prediction_drift(np.linspace(0, 1, 100), np.full(10, np.nan))


def test_class_drift_is_zero_for_the_same_shares_and_grows_with_a_shifted_class() -> None:
    reference = np.array(["stay"] * 70 + ["leave"] * 20 + ["downgrade"] * 10, dtype=object)
    shuffled = np.random.default_rng(0).permutation(reference)
    shifted = np.array(["stay"] * 40 + ["leave"] * 50 + ["downgrade"] * 10, dtype=object)

    assert class_drift(reference, shuffled) == pytest.approx(0.0)
    assert class_drift(reference, shifted) > 0.2
    # A class only the current window predicts is a bin of its own, floored in the reference.
    assert class_drift(reference, np.array(["new"] * 100, dtype=object)) > 1.0


def test_class_drift_refuses_an_empty_window() -> None:
    with pytest.raises(DriftInputError, match="no predicted classes"):
        class_drift(np.array(["a"], dtype=object), np.array([], dtype=object))
