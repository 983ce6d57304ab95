"""Feature engineering as a scikit-learn transformer: it travels inside the logged model, so
serving runs exactly the code that training ran."""

from include.retraining.features.preprocessing import (
    MISSING_CATEGORY,
    _as_float,
    _as_text,
    build_preprocessor,
    native_categorical_positions,
)

__all__ = ["MISSING_CATEGORY", "build_preprocessor", "native_categorical_positions"]
# `_as_float` and `_as_text` are imported for deserialization only: a model's skops file names them
# as attributes of this package.
_SERIALIZED = (_as_float, _as_text)
