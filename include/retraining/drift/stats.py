"""The prediction drift statistic: the Population Stability Index of a model's scores or classes."""

from __future__ import annotations

import numpy as np

from include.retraining.drift.summary import DriftInputError

_PSI_BINS = 10
# Floor for empty bins: without it one bin that is empty in either window makes PSI infinite.
_PSI_EPSILON = 1e-4


def prediction_drift(reference_scores: np.ndarray, current_scores: np.ndarray) -> float:
    """Population Stability Index of the model's scores, current against reference.

    Bins are the reference deciles (10 quantile bins, ties merged, open-ended outer bins), so
    any score scale works and a constant score collapses to the bins around that constant.
    Empty bins are floored at 1e-4. NaN and infinite scores are dropped. By convention PSI
    below 0.1 is stable, 0.1-0.2 a moderate shift and above 0.2 a significant one.
    """
    ref = _finite(reference_scores, "reference")
    cur = _finite(current_scores, "current")
    inner_edges = np.unique(np.quantile(ref, np.linspace(0, 1, _PSI_BINS + 1)[1:-1]))
    ref_share = _bin_shares(ref, inner_edges)
    cur_share = _bin_shares(cur, inner_edges)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def class_drift(reference_classes: np.ndarray, current_classes: np.ndarray) -> float:
    """PSI of a multiclass model's predicted classes, current against reference: one bin per class
    either window predicted, empty bins floored at 1e-4 as in `prediction_drift`."""
    if not (len(reference_classes) and len(current_classes)):
        raise DriftInputError("no predicted classes to compare")
    names, codes = np.unique(np.concatenate([reference_classes, current_classes]).astype(str), return_inverse=True)
    ref, cur = (np.bincount(c, minlength=names.size) / c.size for c in np.split(codes, [len(reference_classes)]))
    ref, cur = np.maximum(ref, _PSI_EPSILON), np.maximum(cur, _PSI_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _finite(scores: np.ndarray, which: str) -> np.ndarray:
    values = np.asarray(scores, dtype="float64").ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise DriftInputError(f"no finite {which} scores to compare")
    return values


def _bin_shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    # side="left" makes bins right-closed, so a value equal to a decile stays in the lower bin
    # in both windows.
    counts = np.bincount(np.searchsorted(inner_edges, values, side="left"), minlength=inner_edges.size + 1)
    return np.maximum(counts / values.size, _PSI_EPSILON)
