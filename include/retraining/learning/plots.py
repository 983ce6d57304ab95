"""Evaluation plots logged next to the metrics: ROC for classifiers, the confusion matrix for a
multiclass model, residuals for regressors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tasks run without a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def evaluation_figure(task: str, y_true: np.ndarray, scores: np.ndarray) -> Figure:
    figure, axis = plt.subplots(figsize=(5, 4))
    if task == "multiclass":
        from sklearn.metrics import ConfusionMatrixDisplay

        from include.retraining.learning.multiclass import aligned

        names, (matrix,), classes = aligned(y_true, scores)
        predicted = np.asarray(classes, dtype=object)[matrix.argmax(axis=1)]
        ConfusionMatrixDisplay.from_predictions(names, predicted, labels=classes, ax=axis, colorbar=False)
        axis.set_title("Holdout confusion matrix")
    elif task == "classification":
        from sklearn.metrics import RocCurveDisplay

        RocCurveDisplay.from_predictions(y_true, scores, ax=axis, name="challenger")
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axis.set_title("Holdout ROC")
    else:
        axis.scatter(scores, np.asarray(y_true) - scores, s=4, alpha=0.4)
        axis.axhline(0, color="grey", linestyle=":")
        axis.set_xlabel("prediction")
        axis.set_ylabel("residual")
        axis.set_title("Holdout residuals")
    figure.tight_layout()
    plt.close(figure)
    return figure
