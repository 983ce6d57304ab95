"""Multiclass scores and metrics (`task: multiclass`).

A multiclass model's scores are a frame of class probabilities, one column per class the model
learned, named by the class as text (`class_names`: the label 2, 2.0 and "2" are one class). Two
models (or a model and later labels) may know different classes: `aligned` puts them on the union,
a class a model never learned at probability 0, so a label it does not know counts against it
(never a crash); `unknown_labels` names them.

The gate's paired interval is closed-form and deterministic, as for a binary model:
- log_loss and accuracy: each row's own loss (or hit) for both models on the same rows, so the
  per-row differences give the interval directly (their mean and standard error);
- roc_auc_ovr (macro one-vs-rest ROC AUC): DeLong's components per class (for a row of class k,
  the share of the other rows it outranks on column k; for the others, the share of class-k rows
  that outrank them) written as each row's influence on that class's AUC, averaged over classes
  per row. The mean of those per-row differences is the macro AUC difference and their variance its
  DeLong variance, with the covariance between classes (the same rows rank every class) included,
  which a mean of per-class intervals would ignore (docs/decisions.md, "Multiclass gate").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

_EPSILON = 1e-15


def class_names(values: Any) -> np.ndarray:
    """Labels as text, the form a multiclass model's classes are kept in: a float column of
    whole numbers (a label column with nulls) names its classes as the integers they are."""
    series = pd.Series(np.asarray(values))
    if pd.api.types.is_float_dtype(series):
        known = series.dropna()
        if len(known) and bool((known == np.floor(known)).all()):
            return np.array([str(int(v)) if pd.notna(v) else "nan" for v in series], dtype=object)
    return series.astype(str).to_numpy(dtype=object)


def class_probabilities(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's class probabilities, a column per class it learned (named as `class_names`)."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise ValueError("the multiclass model does not record its classes (no classes_): retrain it")
    probabilities = np.asarray(model.predict_proba(frame), dtype="float64")
    return pd.DataFrame(probabilities, columns=list(class_names(classes)), index=frame.index)


def predicted_classes(scores: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Each row's most probable class; an array is taken as predicted classes already."""
    if not isinstance(scores, pd.DataFrame):
        return np.asarray(scores, dtype=object)
    return np.asarray(scores.columns, dtype=object)[scores.to_numpy(dtype="float64").argmax(axis=1)]


def unknown_labels(y: Any, probabilities: pd.DataFrame) -> dict[str, int]:
    """Labels among `y` that the model never learned, with their row counts."""
    names = pd.Series(class_names(y))
    unknown = names[~names.isin(probabilities.columns)]
    return {str(k): int(v) for k, v in unknown.value_counts().sort_index().items()}


def unknown_labels_note(y: Any, scores: Any) -> str:
    """For a multiclass model's scores: the labels it never learned, by rows (counted in its metric
    at probability 0, as it can never predict them); empty otherwise."""
    unknown = unknown_labels(y, scores) if isinstance(scores, pd.DataFrame) else {}
    return f"labels the model never learned (rows): {unknown}; retrain to learn them" if unknown else ""


def aligned(y: Any, *probabilities: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """(labels as text, each model's probabilities, the classes): every frame on the union of the
    classes the models learned and the labels hold, a class a model lacks at probability 0."""
    names = class_names(y)
    classes = list(dict.fromkeys([c for p in probabilities for c in p.columns] + sorted(set(names))))
    matrices = [p.reindex(columns=classes, fill_value=0.0).to_numpy(dtype="float64") for p in probabilities]
    return names, matrices, classes


def multiclass_value(metric: str, y: Any, probabilities: pd.DataFrame) -> float:
    names, (matrix,), classes = aligned(y, probabilities)
    return _influence(metric, names, matrix, classes)[0]


def multiclass_difference(metric: str, y: Any, a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    """metric(a) - metric(b) on the same rows and its standard error (module docstring)."""
    names, (matrix_a, matrix_b), classes = aligned(y, a, b)
    value_a, influence_a = _influence(metric, names, matrix_a, classes)
    value_b, influence_b = _influence(metric, names, matrix_b, classes)
    d = influence_a - influence_b
    return value_a - value_b, float(np.sqrt(d.var(ddof=1) / len(d))) if len(d) > 1 else 0.0


def _influence(metric: str, names: np.ndarray, matrix: np.ndarray, classes: list[str]) -> tuple[float, np.ndarray]:
    """The metric's value and each row's influence on it (zero mean, var / n is its variance)."""
    truth = np.asarray([classes.index(n) for n in names])
    if metric == "log_loss":
        loss = -np.log(np.clip(matrix[np.arange(len(truth)), truth], _EPSILON, 1.0))
        return float(loss.mean()), loss - loss.mean()
    if metric == "accuracy":
        hit = (matrix.argmax(axis=1) == truth).astype("float64")
        return float(hit.mean()), hit - hit.mean()
    if metric == "roc_auc_ovr":
        return _macro_auc(truth, matrix)
    raise ValueError(f"unknown multiclass metric {metric!r}; use one of roc_auc_ovr, log_loss, accuracy")


def _macro_auc(truth: np.ndarray, matrix: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro one-vs-rest AUC over the classes the labels hold (a class without rows, or with every
    row, has no AUC), and each row's DeLong influence on it."""
    n = len(truth)
    values, influences = [], []
    for k in range(matrix.shape[1]):
        positive = truth == k
        m = int(positive.sum())
        if m in (0, n):
            continue
        scores = matrix[:, k]
        overall = rankdata(scores)
        # Midranks: a positive's rank among all minus its rank among positives counts the
        # negatives below it (ties one half); the same from the negatives' side.
        component = np.empty(n)
        component[positive] = (overall[positive] - rankdata(scores[positive])) / (n - m)
        component[~positive] = 1.0 - (overall[~positive] - rankdata(scores[~positive])) / m
        auc = float(component[positive].mean())
        values.append(auc)
        influences.append(np.where(positive, n / m, n / (n - m)) * (component - auc))
    if not values:
        raise ValueError("roc_auc_ovr needs at least two classes in the labels")
    return float(np.mean(values)), np.mean(influences, axis=0)
