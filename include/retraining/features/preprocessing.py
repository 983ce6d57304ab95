"""Feature engineering as a scikit-learn transformer, so it travels inside the logged model and
serving runs exactly the code that training ran."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from include.retraining.config import FeaturesConfig

MISSING_CATEGORY = "__missing__"
# The module the converters below are serialized under: a skops file names a function by its
# module, and models logged before this package existed name `include.retraining.features`. One
# stable name, so old and new models load through the same trusted list (SKOPS_TRUSTED_TYPES).
SERIALIZED_MODULE = "include.retraining.features"


def _serialized_as(function):
    function.__module__ = SERIALIZED_MODULE
    return function


def _category_text(value: object) -> str:
    # An integer code upcast to float by a null elsewhere in its column (1 -> 1.0) is still "1".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@_serialized_as
def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    # Categories arrive as objects, strings or numbers depending on the warehouse driver.
    text = frame.astype("object")
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            text[column] = frame[column].map(_category_text)
    return text.where(frame.notna(), MISSING_CATEGORY).astype(str)


@_serialized_as
def _as_float(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(pd.to_numeric, errors="coerce").astype("float64")


def _numeric() -> Pipeline:
    return Pipeline(
        [
            ("to_float", FunctionTransformer(_as_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )


def _one_hot() -> OneHotEncoder:
    return OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01, sparse_output=False)


def _ordinal(max_categories: int) -> OrdinalEncoder:
    # An unseen category becomes NaN, which the estimator scores as a missing value.
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        min_frequency=0.01,
        max_categories=max_categories,
        dtype=np.float64,
    )


def build_preprocessor(features: FeaturesConfig, max_categories: int = 255) -> ColumnTransformer:
    """Impute (with missing-value indicators), scale numerics; encode categories.

    one_hot: categories unseen in training or rarer than 1% of rows share one bucket, so a new
    category at serving time is scored rather than rejected. native: one ordinal code per column
    (rare ones share a code, at most `max_categories` codes: the estimator's max_bins), an unseen
    category is NaN; the categorical columns come first, at `native_categorical_positions`.
    """
    native = features.categorical_encoding == "native"
    encoder = _ordinal(max_categories) if native else _one_hot()
    categorical = Pipeline(
        [("to_text", FunctionTransformer(_as_text, feature_names_out="one-to-one")), ("encode", encoder)]
    )
    transformers = []
    if features.numeric:
        transformers.append(("numeric", _numeric(), list(features.numeric)))
    if features.categorical:
        # Native: first, so their output positions are known before fit (the numeric part's width
        # depends on which columns had nulls in training).
        transformers.insert(
            0 if native else len(transformers), ("categorical", categorical, list(features.categorical))
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


def native_categorical_positions(features: FeaturesConfig) -> list[int]:
    """The output columns of `build_preprocessor` that hold category codes under native encoding."""
    return list(range(len(features.categorical))) if features.categorical_encoding == "native" else []
