"""Feature engineering as a scikit-learn transformer: it travels inside the logged model, so
serving runs exactly the code that training ran.

`_as_float` and `_as_text` are on the face for deserialization only: every logged model's skops
file names them as attributes of this package (preprocessing.SERIALIZED_MODULE); names starting
with `_` stay out of `__all__`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.features.preprocessing import (
        MISSING_CATEGORY,
        SERIALIZED_MODULE,
        _as_float,
        _as_text,
        build_preprocessor,
        native_categorical_positions,
    )

__all__, __getattr__, __dir__ = face(__name__)
