"""Test doubles for serving's unit tests: a fitted-model stand-in and the follower's view of the
registry (an alias table, loadable versions, injectable failures), with the batch scorer's
`predict_scores` as the scorer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from include.retraining.learning import predict_scores
from serving.follower import AliasFollower, AliasTarget

__all__ = ["FEATURES", "ROWS", "FakeModel", "FakeRegistry", "follow", "scorer"]

FEATURES = ["tenure", "plan"]
ROWS = pd.DataFrame({"tenure": [1.0, 12.0, None], "plan": ["a", "b", None]})


class FakeModel:
    """A fitted-model stand-in: its own feature list, a score that depends on the row and the version."""

    def __init__(self, offset: float, broken: bool = False) -> None:
        self.offset = offset
        self.broken = broken
        self.feature_names_in_ = np.array(FEATURES, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.broken:
            raise ValueError("tree arrays do not match")
        tenure = pd.to_numeric(frame["tenure"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        p = 1.0 / (1.0 + np.exp(-(tenure / 10.0 + self.offset)))
        return np.column_stack([1.0 - p, p])


class FakeRegistry:
    """The follower's view of the registry: an alias table, loadable versions, injectable failures."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.tags: dict[str, dict[str, str]] = {}  # version tags (the canary's decision tag)
        self.models: dict[str, Any] = {"1": FakeModel(0.0), "2": FakeModel(1.0)}
        self.down = False

    def alias_target(self, alias: str) -> AliasTarget | None:
        if self.down:
            raise RuntimeError("connection refused")
        version = self.aliases.get(alias)
        return AliasTarget(version, f"run-{version}", self.tags.get(version, {})) if version else None

    def load(self, version: str) -> Any:
        model = self.models[version]
        if isinstance(model, Exception):
            raise model
        return model


def scorer(model: Any, frame: pd.DataFrame) -> np.ndarray:
    return predict_scores(model, frame, "classification")


def follow(registry: FakeRegistry) -> AliasFollower:
    return AliasFollower("churn", "champion", registry, scorer, FEATURES, poll_seconds=1.0)
