"""Feature transformers: categories keep one spelling whatever the driver's dtype, and each
categorical encoding lays out its columns as the estimator expects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import FeaturesConfig
from include.retraining.features.preprocessing import (
    MISSING_CATEGORY,
    _as_text,
    build_preprocessor,
    native_categorical_positions,
)

pytestmark = pytest.mark.unit

NATIVE = FeaturesConfig(numeric=["tenure"], categorical=["plan", "region"], categorical_encoding="native")


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "tenure": rng.normal(size=rows),
            "plan": rng.choice(["basic", "pro"], size=rows),
            "region": rng.choice([f"r{i}" for i in range(20)], size=rows),
        }
    )


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


def test_native_codes_come_first_one_column_per_category_feature() -> None:
    preprocessor = build_preprocessor(NATIVE).fit(_frame())

    names = list(preprocessor.get_feature_names_out())

    assert native_categorical_positions(NATIVE) == [0, 1]
    assert names == ["categorical__plan", "categorical__region", "numeric__tenure"]


def test_one_hot_keeps_numerics_first_and_has_no_native_positions() -> None:
    one_hot = NATIVE.model_copy(update={"categorical_encoding": "one_hot"})
    names = list(build_preprocessor(one_hot).fit(_frame()).get_feature_names_out())
    assert names[0] == "numeric__tenure" and names[1:3] == ["categorical__plan_basic", "categorical__plan_pro"]
    assert native_categorical_positions(one_hot) == []


def test_an_unseen_native_category_is_nan_and_a_null_is_its_own_category() -> None:
    train = _frame().assign(plan=lambda f: f["plan"].where(f.index % 10 != 0))  # 10% nulls: frequent
    preprocessor = build_preprocessor(NATIVE).fit(train)

    codes = preprocessor.transform(pd.DataFrame({"tenure": [0.0, 0.0], "plan": ["enterprise", None], "region": "r1"}))

    assert np.isnan(codes[0, 0]) and not np.isnan(codes[1, 0])


def test_native_codes_are_capped_at_max_categories_with_rare_ones_shared() -> None:
    frame = _frame(2000)
    frame.loc[:4, "region"] = "rare"  # 0.25% of rows: below the 1% floor

    capped = build_preprocessor(NATIVE, max_categories=8).fit(frame).transform(frame)
    uncapped = build_preprocessor(NATIVE).fit(frame).transform(frame)

    assert len(np.unique(capped[:, 1])) == 8
    assert len(np.unique(uncapped[:, 1])) == 21  # 20 regions and the shared rare code
