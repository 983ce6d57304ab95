"""What each policy served in a window, scored on the window's labels (matured by now: the plan
refuses windows whose labels are not in).

Which model served a row is what production would have kept for it:
- a model file with a `scoring:` section is served by `score_<model>`: each run scores one interval
  of `scoring.schedule`'s grid, (previous fire, fire], and every move of `champion` starts a run
  that rescores the latest complete interval, replacing its rows. So a row whose interval ends at
  fire s keeps the prediction of the champion in force just before the fire after s (the last move
  before then rescored it): a promotion at a window's end re-serves the rows of the interval that
  ends there;
- without one, a row is served by the model in force when it arrived (a move at t serves the rows
  after t), as an online endpoint following `champion` would.

The rows' features are read as the source was at the window's end (`--source-before`), since that
is what was scored; their labels from the source as it is now, joined by `source.id_column` and the
time (the labels that arrived since, corrections included)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.backtest.plan import scoring_grid
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
        """The window's rows as scored (features from the source at its end), labelled as now."""
        config, source = self.iso.config, self.iso.config.source
        keys = [source.timestamp_column, *([source.id_column] if source.id_column else [])]
        columns = [*keys, config.target, *config.features.columns]
        then = self.iso.source_at(window.end)
        frame = then.read_window(source, columns, window.start, window.end, model=config.name)
        if then is not self.iso.warehouse and source.id_column:
            labels = self.iso.warehouse.read_window(
                source, [*keys, config.target], window.start, window.end, model=config.name
            )
            frame = frame.drop(columns=[config.target]).merge(labels, on=keys, how="inner")
        return frame.dropna(subset=[config.target]).reset_index(drop=True)

    def serving_times(self, frame: pd.DataFrame) -> pd.Series:
        """Per row, the time before which the last move of a policy's model served it (see the module)."""
        arrived = pd.to_datetime(frame[self.iso.config.source.timestamp_column], utc=True)
        scoring = self.iso.config.scoring
        if scoring is None or arrived.empty:
            return arrived
        grid = pd.DatetimeIndex(scoring_grid(scoring.schedule, arrived.min(), arrived.max()))
        # Each row's interval ends at the first fire at or after it; the fire after that one is the bound.
        return pd.Series(grid[np.searchsorted(grid, arrived, side="left") + 1], index=frame.index)

    def served_between(self, frame: pd.DataFrame, window: Window) -> tuple[datetime, datetime]:
        """The bounds `summary.in_force` takes to name the models that served the window's rows."""
        if frame.empty or self.iso.config.scoring is None:
            return window.start, window.end
        times = self.serving_times(frame)
        return times.min().to_pydatetime() - timedelta(microseconds=1), times.max().to_pydatetime()

    def metric(self, frame: pd.DataFrame, served: Served) -> float | None:
        """The primary metric of what `served` served on `frame`; None with too few rows or labels."""
        from include.retraining.learning import metric_value, predict_scores

        config = self.iso.config
        if not served or len(frame) < MIN_ROWS:
            return None
        y = frame[config.target].to_numpy()
        if config.task == "classification" and len(np.unique(y)) < 2:
            return None
        until = self.serving_times(frame)
        scores = np.full(len(frame), np.nan)
        for since, uri in served:
            rows = np.ones(len(frame), dtype=bool) if since is None else (until > pd.Timestamp(since)).to_numpy()
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
