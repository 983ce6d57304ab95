"""What each policy served in a window, scored on the window's labels (matured by now: the plan
refuses windows whose labels are not in). A row is served by the model in force when it arrived:
a move of the champion at time t serves the rows after t."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.backtest.replay import Isolated
from include.retraining.common import Window

# Fewer labelled rows than this (or one class) give no figure: an AUC on a handful is noise.
MIN_ROWS = 50

Served = list[tuple[datetime | None, str]]  # (in force after this time, model URI), oldest first


class ServedScorer:
    """Reads a window's rows once and scores them with each policy's models, loaded once."""

    def __init__(self, iso: Isolated) -> None:
        self.iso = iso
        self._models: dict[str, Any] = {}

    def rows(self, window: Window) -> pd.DataFrame:
        config = self.iso.config
        columns = [config.source.timestamp_column, config.target, *config.features.columns]
        frame = self.iso.warehouse.read_window(config.source, columns, window.start, window.end, model=config.name)
        return frame.dropna(subset=[config.target]).reset_index(drop=True)

    def metric(self, frame: pd.DataFrame, served: Served) -> float | None:
        """The primary metric of what `served` served on `frame`; None with too few rows or labels."""
        from include.retraining.learning import metric_value, predict_scores

        config = self.iso.config
        if not served or len(frame) < MIN_ROWS:
            return None
        y = frame[config.target].to_numpy()
        if config.task == "classification" and len(np.unique(y)) < 2:
            return None
        arrived = pd.to_datetime(frame[config.source.timestamp_column], utc=True)
        scores = np.full(len(frame), np.nan)
        for since, uri in served:
            rows = np.ones(len(frame), dtype=bool) if since is None else (arrived > pd.Timestamp(since)).to_numpy()
            if rows.any():
                model = self._model(uri)
                scores[rows] = predict_scores(model, frame.loc[rows, config.features.columns], config.task)
        known = ~np.isnan(scores)
        if known.sum() < MIN_ROWS:
            return None
        return metric_value(config.primary_metric, y[known], scores[known])

    def _model(self, uri: str) -> Any:
        if uri not in self._models:
            self._models[uri] = self.iso.tracker().load_model(uri)
        return self._models[uri]
