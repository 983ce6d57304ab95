"""The static catalog the model file is checked against matches the installed libraries."""

from __future__ import annotations

import pytest

from include.retraining.config.catalog import (
    CATEGORICAL_STATTESTS,
    ESTIMATOR_PARAMS,
    NUMERIC_STATTESTS,
    estimator_problems,
    stattest_problems,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("estimator", "task"), sorted(ESTIMATOR_PARAMS))
def test_every_estimator_lists_exactly_its_scikit_learn_parameters(estimator: str, task: str) -> None:
    from include.retraining.learning.estimators import _builtin_class

    cls = _builtin_class(estimator, task)

    assert set(ESTIMATOR_PARAMS[(estimator, task)]) == set(cls().get_params())


def test_stattest_names_are_evidentlys() -> None:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    def names(kind: ColumnType) -> set[str]:
        return {name for name, kinds in _registered_stat_tests.items() if kind in kinds}

    assert names(ColumnType.Numerical) == NUMERIC_STATTESTS
    assert names(ColumnType.Categorical) == CATEGORICAL_STATTESTS


def test_right_values_pass_and_wrong_ones_name_the_key() -> None:
    good = {"max_iter": 150, "learning_rate": 0.08, "max_depth": None, "early_stopping": "auto"}
    assert estimator_problems("hist_gradient_boosting", "classification", good) == []
    (problem,) = estimator_problems("hist_gradient_boosting", "classification", {"max_iter": True})
    assert "training.params.max_iter" in problem and "int" in problem
    assert stattest_problems({"numeric": "ks", "contract": "chisquare"}, ["a"], ["contract"]) == []
    assert stattest_problems("psi", ["a"], ["b"]) == []
