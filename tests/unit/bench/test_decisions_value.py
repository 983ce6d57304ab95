"""The value table's oracle and acceptance (bench/decisions_value.py, bench/decisions_tables.py),
on served metrics given directly: the oracle must be the best any keep-or-promote sequence can do."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

import bench.decisions_value as value
from bench.decisions_tables import AVERAGE, VALUE_POLICIES, value_acceptance

pytestmark = pytest.mark.unit
WINDOWS = 6


@dataclass
class Year:
    """Served metric of model m on window t: `served[m + 1, t]` (m = -1 the first champion, s the
    retrain at the end of window s)."""

    served: np.ndarray
    first: int = -1

    def retrain(self, t: int) -> int:
        return t

    def auc(self, model: int, t: int) -> float:
        return float(self.served[model + 1, t])


def _best_by_brute_force(year: Year) -> tuple[float, int]:
    best = (-1.0, 0)
    for switches in itertools.product((False, True), repeat=WINDOWS - 1):
        model, total = -1, year.auc(-1, 0)
        for t, switch in enumerate(switches, start=1):
            model = t - 1 if switch else model
            total += year.auc(model, t)
        best = max(best, (total / WINDOWS, -sum(switches)))
    return best[0], -best[1]


@pytest.mark.parametrize("seed", range(5))
def test_the_oracle_serves_the_best_sequence_with_the_fewest_retrains(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(value, "WINDOWS", WINDOWS)
    monkeypatch.setattr(value, "_model", lambda year, index: index)
    year = Year(np.random.default_rng(seed).uniform(0.7, 0.8, size=(WINDOWS, WINDOWS)))

    served = value.oracle(year)
    every_cron = value.every_cron(year)

    assert (pytest.approx(np.mean(served.metrics)), served.retrains) == _best_by_brute_force(year)
    assert np.mean(served.metrics) >= np.mean(every_cron.metrics) - 1e-12
    assert served.promotions == served.retrains


def test_a_policy_equal_to_every_cron_meets_the_acceptance_and_one_far_below_names_its_scenarios() -> None:
    def cell(metric: float, retrains: float) -> dict[str, float]:
        return {"metric": metric, "retrains": retrains, "promotions": retrains}

    def rows(policy: float) -> dict:
        scenario = {p: cell(0.80, 25.0) for p in VALUE_POLICIES} | {"policy": cell(policy, 2.0)}
        return {"concept drift": scenario, AVERAGE: scenario}

    assert "(within 0.005)" in value_acceptance(rows(0.797))
    far = value_acceptance(rows(0.78))
    assert "(not within 0.005)" in far and "concept drift -0.0200" in far and "8% of them (at most a quarter)" in far
