"""Post-promotion verification, the pure part: the promise read from a promotion log row's figures
and the verdict of the realized interval against it."""

from __future__ import annotations

import math

import pytest

from include.retraining.learning import ImprovementInterval
from include.retraining.promotion import HELD, REGRESSED, SHORT, UNPROMISED, calibration, promise, verdict

pytestmark = pytest.mark.unit


def _realized(difference: float, lower: float, upper: float) -> ImprovementInterval:
    return ImprovementInterval("roc_auc", difference, lower, upper, 0.95, "delong", 1000)


def test_the_promise_is_the_gate_interval_of_the_log_row() -> None:
    figures = {"metric": "roc_auc", "interval": {"difference": 0.031, "lower": 0.012, "upper": 0.05}}

    assert promise(figures) == (0.031, 0.012)
    assert promise({}) == (None, None)  # a promotion by hand
    assert promise(None) == (None, None)
    assert promise({"interval": None}) == (None, None)  # the first model: no champion to compare with
    assert promise({"interval": {"difference": "nan", "lower": 0.01}}) == (None, None)


@pytest.mark.parametrize(
    ("realized", "promised_lower", "expected"),
    [
        (_realized(0.02, 0.005, 0.035), 0.01, (True, HELD)),
        (_realized(0.01, -0.005, 0.025), 0.01, (True, HELD)),  # exactly the promised bound: held
        (_realized(0.004, -0.011, 0.019), 0.01, (False, SHORT)),  # below the promise, not worse
        (_realized(-0.03, -0.045, -0.015), 0.01, (False, REGRESSED)),  # significantly worse
        (_realized(-0.03, -0.045, -0.015), None, (None, REGRESSED)),  # by hand, and it regressed
        (_realized(0.0, -0.015, 0.015), None, (None, UNPROMISED)),
    ],
)
def test_the_verdict_against_the_promise(realized: ImprovementInterval, promised_lower, expected) -> None:
    assert verdict(realized, promised_lower) == expected


def test_a_realized_difference_that_is_not_a_number_is_refused_not_judged() -> None:
    with pytest.raises(ValueError, match="roc_auc difference is nan"):
        verdict(_realized(math.nan, math.nan, math.nan), 0.01)


def test_calibration_counts_only_the_promotions_that_had_a_promise() -> None:
    assert calibration([True, True, False, None, True]) == (3, 4)
    assert calibration([]) == (0, 0)
