"""Training: the model file's estimator behind the feature preprocessor (and the user's own
steps before it), fit on a deterministic split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from include.retraining.config import ESTIMATOR_KIND, ModelConfig
from include.retraining.learning.estimators import build_estimator, feature_steps
from include.retraining.learning.multiclass import class_probabilities

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class TrainingDataError(ValueError):
    """The window cannot train a model (too few rows, one class only); the run stops cleanly."""


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame


def build_pipeline(config: ModelConfig) -> Pipeline:
    # scikit-learn is imported here, not with the module: extract and promote import this module
    # (for TrainingDataError) and never fit.
    from sklearn.pipeline import Pipeline

    from include.retraining.features import build_preprocessor

    # Native categories: at most as many codes per column as the estimator has bins.
    max_categories = int(config.training.params.get("max_bins", 255))
    preprocessor = build_preprocessor(config.features, max_categories=max_categories)
    # The user's steps first: they see the raw feature columns and hand the preprocessor the same.
    return Pipeline([*feature_steps(config), ("features", preprocessor), ("model", build_estimator(config))])


def split_by_time(frame: pd.DataFrame, config: ModelConfig) -> Split:
    """The latest `holdout_fraction` of rows (by timestamp) is the holdout.

    An out-of-time holdout measures what deployment will see, and since each weekly champion
    trained only on rows before its own holdout, it never saw this run's holdout either: the
    champion-vs-challenger comparison is fair.
    """
    ts = config.source.timestamp_column
    order = [ts] + ([config.source.id_column] if config.source.id_column else [])
    if frame.index.equals(pd.RangeIndex(len(frame))) and _in_order(frame, order):
        ordered = frame  # a snapshot comes back ordered: skip a sort on string ids and two copies
    else:
        ordered = frame.sort_values(order, kind="mergesort").reset_index(drop=True)
    n_holdout = math.ceil(len(ordered) * config.training.holdout_fraction)
    return Split(train=ordered.iloc[:-n_holdout], holdout=ordered.iloc[-n_holdout:])


def holdout_rows(frame: pd.DataFrame, config: ModelConfig) -> pd.DataFrame:
    """The out-of-time holdout of a champion's training rows (or a sample of them): the latest
    `holdout_fraction` of rows by timestamp, as `split_by_time` cut it; rows without the id column
    (a reference sample) are ordered by time alone."""
    if config.source.id_column and config.source.id_column not in frame.columns:
        config = config.model_copy(update={"source": config.source.model_copy(update={"id_column": None})})
    return split_by_time(frame, config).holdout


def _in_order(frame: pd.DataFrame, order: list[str]) -> bool:
    """Whether a stable sort by `order` would leave the rows where they are (a cheap scan)."""
    first = frame[order[0]]
    if not first.is_monotonic_increasing:
        return False
    if len(order) == 1:
        return True
    values = first.to_numpy()
    tied = values[1:] == values[:-1]
    ids = frame[order[1]].to_numpy()
    try:
        return bool(np.all(ids[1:][tied] >= ids[:-1][tied]))
    except TypeError:  # a missing id among ties: let the sort decide
        return False


def check_trainable(frame: pd.DataFrame, config: ModelConfig) -> None:
    if len(frame) < config.training.min_rows:
        raise TrainingDataError(
            f"model {config.name!r}: the window has {len(frame)} rows, fewer than "
            f"training.min_rows={config.training.min_rows}; widen training.window_days or check "
            "that the upstream load ran"
        )
    if ESTIMATOR_KIND[config.task] == "classification":
        classes = frame[config.target].dropna().nunique()
        if classes < 2:
            raise TrainingDataError(
                f"model {config.name!r}: target {config.target!r} has {classes} class(es) in "
                "the window; a classifier needs both"
            )


def check_split(split: Split, config: ModelConfig) -> None:
    """A classifier needs both classes in the training split and in the holdout split."""
    if ESTIMATOR_KIND[config.task] != "classification":
        return
    for name, part in (("training", split.train), ("holdout", split.holdout)):
        labels = part[config.target].dropna()
        if labels.nunique() < 2:
            raise TrainingDataError(
                f"model {config.name!r}: the {name} split has {labels.nunique()} class(es) of target "
                f"{config.target!r} among {len(labels)} labelled rows; a classifier needs both. Widen "
                "training.window_days, change training.holdout_fraction, or check the labels"
            )


def synthetic_example(features: pd.DataFrame, config: ModelConfig) -> pd.DataFrame:
    """One made-up input row for the logged model (medians and most frequent categories), so no
    customer's row is stored inside every model."""
    row: dict[str, object] = {}
    for column in config.features.numeric:
        median = pd.to_numeric(features[column], errors="coerce").median()
        row[column] = float(median) if pd.notna(median) else 0.0
    for column in config.features.categorical:
        counts = features[column].dropna().astype(str).value_counts()
        row[column] = str(counts.index[0]) if len(counts) else "unknown"
    return pd.DataFrame([row], columns=list(config.features.columns)).astype(
        {c: "float64" for c in config.features.numeric}
    )


def model_features(model: Any, fallback: list[str]) -> list[str]:
    """The columns a fitted model was trained on (its own list, not today's YAML)."""
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else list(fallback)


def fit(config: ModelConfig, train: pd.DataFrame, threads: int = 1) -> Pipeline:
    """The fitted pipeline, its OpenMP and BLAS pools capped at `threads` (Settings.fit_threads)."""
    pipeline = build_pipeline(config)
    labelled = train.dropna(subset=[config.target])
    with threadpool_limits(limits=threads):
        pipeline.fit(labelled[config.features.columns], labelled[config.target])
    return pipeline


# What a model's own code raises on columns it cannot score (a dtype, a category or an attribute its
# library version does not know): a verdict on the model. Anything else, MemoryError, an OSError, a
# library's runtime error, is the worker's trouble: it propagates, the task fails and is retried, and
# the model is never judged unusable on it.
MODEL_SCORING_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, LookupError, AttributeError)


def predict_scores(model: Any, frame: pd.DataFrame, task: str, threads: int = 1) -> np.ndarray | pd.DataFrame:
    """Positive-class probability for a classifier, the class probabilities (a frame, a column per
    class) for a multiclass model, the prediction for a regressor, on at most `threads` OpenMP/BLAS
    threads.

    Works on a fitted Pipeline and on an MLflow pyfunc whose sklearn flavour has predict_proba.
    """
    with threadpool_limits(limits=threads):
        if task == "classification":
            return np.asarray(model.predict_proba(frame))[:, 1]
        if task == "multiclass":
            return class_probabilities(model, frame)
        return np.asarray(model.predict(frame), dtype="float64")
