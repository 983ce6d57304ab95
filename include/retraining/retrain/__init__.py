"""The steps of `retrain_<model>`, one function per task (extract, validate, train, evaluate,
promote), and what they hand each other: a window read into a content-addressed snapshot,
validated, trained into an MLflow run, judged against the champion on the same holdout, and
promoted by alias or blocked with an alert."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.retrain.contracts import Extracted, Trained, Validated
    from include.retraining.retrain.housekeeping import prune_reports, prune_snapshots
    from include.retraining.retrain.steps import (
        config_hash,
        evaluate,
        extract,
        promote,
        promote_or_block,
        train,
        validate,
    )

__all__, __getattr__, __dir__ = face(__name__)
