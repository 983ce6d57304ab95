"""What a value not of its column's type is (score/values.py): text, a non-finite number, a nested
value; nulls are not bad values; messages name the column and the row, never the value."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from include.retraining.score import NonFinite, Problem, find_bad_values, numbers_from_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("twelve", Problem.TEXT),
        ("N/A", Problem.TEXT),
        ("", Problem.TEXT),
        ("12", Problem.TEXT),  # a JSON string is not a number, whatever it spells
        (NonFinite("NaN"), Problem.NON_FINITE),
        (float("inf"), Problem.NON_FINITE),
        (Decimal("-Infinity"), Problem.NON_FINITE),
        ([1, 2], Problem.NESTED),
        ({"a": 1}, Problem.NESTED),
    ],
    ids=["text", "N/A", "empty", "numeric text", "NaN literal", "inf", "decimal inf", "list", "object"],
)
def test_a_numeric_column_refuses_what_is_not_a_finite_number(value, problem) -> None:
    frame = pd.DataFrame({"tenure_months": [3, None, value, 7.5]}, dtype=object)

    bad = find_bad_values(frame, ["tenure_months"], [])

    assert [(b.column, b.first_row, b.rows, b.problem) for b in bad.columns] == [("tenure_months", 2, 1, problem)]
    assert f"column 'tenure_months' row 2: {problem.value}; expected a number" == bad.columns[0].message()


def test_numbers_nulls_and_booleans_are_of_a_numeric_columns_type() -> None:
    frame = pd.DataFrame(
        {
            "objects": pd.Series([1, 2.5, Decimal("3.1"), True, None, float("nan"), np.int64(4)], dtype=object),
            "floats": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0],
            "nullable": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
        }
    )

    assert not find_bad_values(frame, list(frame.columns), [])


def test_a_categorical_column_takes_text_and_numbers_but_not_nested_or_non_finite_values() -> None:
    frame = pd.DataFrame({"plan": pd.Series(["a", 3, None, ["x"], NonFinite("Infinity"), "b"], dtype=object)})

    bad = find_bad_values(frame, [], ["plan"])

    assert [(b.column, b.first_row, b.rows, b.problem) for b in bad.columns] == [("plan", 3, 2, Problem.NESTED)]


def test_a_float_column_with_infinity_is_refused_and_blanked_to_a_null() -> None:
    frame = pd.DataFrame({"charges": [1.0, np.inf, -np.inf, np.nan]})

    bad = find_bad_values(frame, ["charges"], [])
    blanked = bad.blanked(frame)

    assert bad.counts() == {"charges": 2} and bad.columns[0].first_row == 1
    assert blanked["charges"].isna().tolist() == [False, True, True, True]
    assert np.isinf(frame["charges"]).sum() == 2  # the caller's frame is left alone


def test_a_message_never_holds_the_value() -> None:
    secret = "customer-4711-said-twelve"
    frame = pd.DataFrame({"tenure_months": [secret, secret]})

    bad = find_bad_values(frame, ["tenure_months"], [])

    assert secret not in bad.columns[0].message() and secret not in json.dumps(bad.columns[0].to_json())
    assert bad.columns[0].message().endswith("(2 rows of this column)")


def test_text_that_spells_a_number_becomes_that_number_and_other_text_stays() -> None:
    frame = pd.DataFrame({"tenure_months": pd.Series(["12", "1e1", "twelve", None, 4.0, " "], dtype=object)})

    converted = numbers_from_text(frame, ["tenure_months"])
    bad = find_bad_values(converted, ["tenure_months"], [])

    assert converted["tenure_months"].tolist()[:2] == [12, 10.0] and converted["tenure_months"][2] == "twelve"
    assert [(b.first_row, b.rows) for b in bad.columns] == [(2, 2)]
    assert frame["tenure_months"][0] == "12"  # the caller's frame is left alone
