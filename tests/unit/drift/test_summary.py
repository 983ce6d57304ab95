"""Unit tests for include.retraining.drift.summary: the drift result types and their input checks."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from include.retraining.drift.summary import (
    ColumnDrift,
    DriftInputError,
    DriftSummary,
    all_null_columns,
    coerce_numeric,
    crossed,
)

pytestmark = pytest.mark.unit

WASSERSTEIN = "Wasserstein distance (normed)"


def _summary() -> DriftSummary:
    return DriftSummary.of(
        {
            "a": ColumnDrift("a", "numeric", WASSERSTEIN, 0.3, 0.1, True),
            "b": ColumnDrift("b", "categorical", "chi-square p_value", 1e-9, 0.05, True),
            "c": ColumnDrift("c", "numeric", WASSERSTEIN, float("nan"), 0.1, False),
            "d": ColumnDrift("d", "numeric", "all_null", 1.0, 1.0, True),
        },
        n_reference=100,
        n_current=50,
    )


def test_summary_orders_drifted_columns_worst_first():
    summary = _summary()

    assert summary.drifted_columns == ["d", "b", "a"]
    assert summary.drift_share == pytest.approx(0.75)


def test_summary_survives_a_json_round_trip_through_xcom():
    summary = _summary()

    data = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    back = DriftSummary.from_dict(data)

    assert back.drifted_columns == summary.drifted_columns
    assert back.columns["a"] == summary.columns["a"]
    assert math.isnan(back.columns["c"].score)


@pytest.mark.parametrize(
    ("column", "text"),
    [
        (ColumnDrift("x", "numeric", WASSERSTEIN, 0.5, 0.1, True), "x (Wasserstein distance (normed) 0.5 >= 0.1)"),
        (ColumnDrift("x", "numeric", "K-S p_value", 0.001, 0.05, True), "x (K-S p_value 0.001 < 0.05)"),
        (ColumnDrift("x", "numeric", "all_null", 1.0, 1.0, True), "x (no values in the current window)"),
    ],
)
def test_describe_words_the_direction_of_the_method(column, text):
    assert column.describe() == text


def test_crossed_without_a_known_method_asks_for_test_results():
    with pytest.raises(DriftInputError, match="include_tests=True"):
        crossed("mystery", 0.3, 0.1)


def test_decimal_text_is_coerced_and_words_are_rejected_by_name():
    frame = pd.DataFrame({"x": [Decimal("1.5"), Decimal("2")], "y": ["1", "no"]})

    assert coerce_numeric(frame, "current", ["x"])["x"].tolist() == [1.5, 2.0]
    with pytest.raises(DriftInputError, match=r"'y'.*current"):
        coerce_numeric(frame, "current", ["y"])


def test_a_column_that_stopped_arriving_is_drift():
    ref = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    cur = pd.DataFrame({"x": [np.nan, np.inf], "c": ["a", None]})

    result = all_null_columns(ref, cur, ["x"], ["c"])

    assert list(result) == ["x"] and result["x"].drifted
