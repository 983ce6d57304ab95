"""The champion as the monitor uses it: loaded once per task, scored on its own feature list.

Anything wrong with the model itself (a missing or corrupt artifact, a library that can no
longer read it, columns it cannot score) becomes `ChampionUnusable`, which the monitor turns
into a skip with an alert instead of a daily crash. A service that does not answer (the tracking
server, its store) or a worker's trouble (memory, disk) is not the model's fault: that error
propagates, the task fails and retries. The same rule as the retrain's baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from include.retraining.config import ModelConfig
from include.retraining.monitor.contracts import ChampionUnusable, Reference
from include.retraining.runs import StepContext
from include.retraining.tracking import UnusableModelError

T = TypeVar("T")


def champion_features(ctx: StepContext, version: str) -> list[str]:
    """The columns the champion was trained on, read from the fitted model itself."""
    config = ctx.config
    model = _usable(config, version, "loading", lambda: load_champion(ctx, version))
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) == 0:
        raise ChampionUnusable(config.name, version, "the model does not record the feature columns it was fitted on")
    return [str(name) for name in names]


def load_champion(ctx: StepContext, version: str) -> Any:
    """The champion's model by version, so every task of a run scores the version `reference`
    found even if the alias moves meanwhile."""
    return ctx.tracker.load_model(f"models:/{ctx.config.name}/{version}")


class ChampionScorer:
    """The champion of `ref`, loaded on first use and scored on its own feature list."""

    def __init__(self, ctx: StepContext, ref: Reference) -> None:
        self.ctx, self.config, self.ref = ctx, ctx.config, ref

    @cached_property
    def model(self) -> Any:
        return _usable(self.config, self.ref.version, "loading", lambda: load_champion(self.ctx, self.ref.version))

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        from include.retraining.learning import predict_scores

        model, features, task, threads = self.model, self.ref.features, self.config.task, self.ctx.settings.fit_threads
        return _usable(
            self.config, self.ref.version, "scoring", lambda: predict_scores(model, frame[features], task, threads)
        )


def _usable(config: ModelConfig, version: str, doing: str, action: Callable[[], T]) -> T:
    """`action()`, with a verdict on the model itself turned into `ChampionUnusable`: the loader's
    `UnusableModelError` (artifact missing or corrupt, refused, unreadable by our code) and, when
    scoring, the errors a model raises on columns it cannot score. A worker's or a service's trouble
    (memory, disk, the tracking server) propagates: the task fails and is retried."""
    from include.retraining.learning import MODEL_SCORING_ERRORS

    verdicts = (UnusableModelError, *MODEL_SCORING_ERRORS) if doing == "scoring" else (UnusableModelError,)
    try:
        return action()
    except verdicts as error:
        raise ChampionUnusable(config.name, version, f"{doing} failed: {type(error).__name__}: {error}") from error
