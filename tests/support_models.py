"""A user's own model code, as a team would put it under `include/`: an estimator class, a feature
step, and things that are not what the model file says they are. Model files in tests name them by
dotted path (`tests.support_models.SmallForest`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import ExtraTreesClassifier


class SmallForest(ExtraTreesClassifier):
    """A user's classifier: scikit-learn's extra trees under a name of the user's own, which the skops
    loader trusts only when the model file lists it (`training.trusted_types`)."""


class CapCharges(TransformerMixin, BaseEstimator):
    """A user's feature step: caps `monthly_charges` at the training rows' 99th percentile, and hands
    every other column on as it came (a DataFrame in, the same columns out). It records the columns
    it was fitted on, so the model keeps its own feature list (`learning.model_features`)."""

    def fit(self, X: pd.DataFrame, y: object = None) -> CapCharges:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.cap_ = float(pd.to_numeric(X["monthly_charges"], errors="coerce").quantile(0.99))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        charges = pd.to_numeric(X["monthly_charges"], errors="coerce")
        return X.assign(monthly_charges=charges.clip(upper=self.cap_))


class NoProbabilities(BaseEstimator):
    """Fits and predicts, but gives no probabilities: no classifier for this pipeline."""

    def fit(self, X: object, y: object) -> NoProbabilities:
        return self

    def predict(self, X: object) -> object:
        return [0] * len(X)


class NeedsArgument(TransformerMixin, BaseEstimator):
    """A transformer that cannot be built without arguments (a feature step is)."""

    def __init__(self, column: str) -> None:
        self.column = column

    def fit(self, X: object, y: object = None) -> NeedsArgument:
        return self

    def transform(self, X: object) -> object:
        return X


def make_forest() -> ExtraTreesClassifier:
    """A factory function, not a class."""
    return ExtraTreesClassifier()


# The window of the churn snapshot the model-code tests train on (tests/integration/conftest.py).
SNAPSHOT_WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))


def local_context(config: Any, tmp_path: Path) -> Any:
    """The production step context of a manual retrain (its tracker trusts what the config allows),
    with a local MLflow store under `tmp_path` and the promotion log in SQLite there."""
    from include.retraining.common import load_settings
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Database

    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    ctx = StepContext.create(config, settings, RunInfo("retrain_churn", "manual__1", SNAPSHOT_WINDOW[1]))
    return replace(ctx, pipeline_db=Database(f"sqlite:///{tmp_path / 'pipeline.db'}"))
