"""Feature transformers: categories keep one spelling whatever the driver's dtype."""

from __future__ import annotations

import pandas as pd
import pytest

from include.retraining.features import MISSING_CATEGORY, _as_text

pytestmark = pytest.mark.unit


def test_integer_codes_give_the_same_strings_with_and_without_nulls() -> None:
    without = _as_text(pd.DataFrame({"plan": [1, 2]}))
    with_null = _as_text(pd.DataFrame({"plan": [1, None, 2]}))
    assert list(without["plan"]) == ["1", "2"]
    assert list(with_null["plan"]) == ["1", MISSING_CATEGORY, "2"]


def test_text_and_real_fractions_are_kept_as_they_are() -> None:
    frame = pd.DataFrame({"contract": ["monthly", None], "rate": [1.5, 2.0]})
    text = _as_text(frame)
    assert list(text["contract"]) == ["monthly", MISSING_CATEGORY]
    assert list(text["rate"]) == ["1.5", "2"]
