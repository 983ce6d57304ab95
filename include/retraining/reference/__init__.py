"""What a champion's training data looked like: its reference profile (per column types, null
shares, categories, quantiles) and a fixed-seed sample, written when the model is trained, logged
with it and cached by version, so validation and monitoring never re-read the training snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.reference.profile import (
        ARTIFACT_DIR,
        ColumnProfile,
        DataProfile,
        build_profile,
        read_reference,
        save_reference,
        write_reference,
    )
    from include.retraining.reference.store import champion_profile

__all__, __getattr__, __dir__ = face(__name__)
