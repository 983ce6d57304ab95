"""Evaluation plots logged next to the metrics: ROC for classifiers, residuals for regressors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tasks run without a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def evaluation_figure(task: str, y_true: np.ndarray, scores: np.ndarray) -> Figure:
    figure, axis = plt.subplots(figsize=(5, 4))
    if task == "classification":
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
