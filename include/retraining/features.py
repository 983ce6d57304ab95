"""Feature engineering as a scikit-learn transformer, so it travels inside the logged model and
serving runs exactly the code that training ran."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from include.retraining.config import FeaturesConfig

MISSING_CATEGORY = "__missing__"


def _category_text(value: object) -> str:
    # An integer code upcast to float by a null elsewhere in its column (1 -> 1.0) is still "1".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    # Categories arrive as objects, strings or numbers depending on the warehouse driver.
    text = frame.astype("object")
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            text[column] = frame[column].map(_category_text)
    return text.where(frame.notna(), MISSING_CATEGORY).astype(str)


def _as_float(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(pd.to_numeric, errors="coerce").astype("float64")


def build_preprocessor(features: FeaturesConfig) -> ColumnTransformer:
    """Impute (with missing-value indicators), scale numerics; one-hot categories.

    Categories unseen in training or rarer than 1% of rows share one bucket, so a new
    category at serving time is scored rather than rejected.
    """
    numeric = Pipeline(
        [
            ("to_float", FunctionTransformer(_as_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("to_text", FunctionTransformer(_as_text, feature_names_out="one-to-one")),
            (
                "encode",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01, sparse_output=False),
            ),
        ]
    )
    transformers = []
    if features.numeric:
        transformers.append(("numeric", numeric, list(features.numeric)))
    if features.categorical:
        transformers.append(("categorical", categorical, list(features.categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
