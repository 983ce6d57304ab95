"""What the challenger is compared with, and when the champion may be replaced.

The baseline is the champion scored with its own feature list; when the champion cannot be
loaded or scored, `previous_champion`, and when that fails too, nothing (the gate threshold
decides, reason `champion_unusable`). Promotion is compare-and-set under a per-model lock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.alerts.outbox import Alert
from include.retraining.artifacts import layout
from include.retraining.runs.context import StepContext
from include.retraining.tracking.registry import Champion
from include.retraining.tracking.tracker import WINDOW_END_TAG, UnusableModelError


@dataclass(frozen=True)
class Baseline:
    """The scores the challenger is compared with: of `version`, or none at all."""

    scores: np.ndarray | None = None
    version: str | None = None
    unusable: str | None = None

    @property
    def reason_prefix(self) -> str:
        if not self.unusable:
            return ""
        if self.scores is not None:
            return f"champion_unusable ({self.unusable}), compared with previous_champion version {self.version}: "
        return f"champion_unusable ({self.unusable}), judged on the threshold alone: "


def model_features(model: Any, fallback: list[str]) -> list[str]:
    """The columns a fitted model was trained on (its own list, not today's YAML)."""
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else list(fallback)


def score_version(ctx: StepContext, model_uri: str, holdout: pd.DataFrame) -> np.ndarray:
    """Load a registered model and score the holdout with its own features, or raise UnusableModelError."""
    from include.retraining.learning.training import predict_scores

    model = ctx.tracker.load_model(model_uri)
    columns = model_features(model, ctx.config.features.columns)
    missing = [c for c in columns if c not in holdout.columns]
    if missing:
        raise UnusableModelError(f"it needs features {missing} that the snapshot no longer holds")
    try:
        return predict_scores(model, holdout[columns], ctx.config.task, ctx.settings.fit_threads)
    except Exception as exc:
        raise UnusableModelError(f"it cannot score the holdout: {exc!r}") from exc


def baseline_for(ctx: StepContext, champion: Champion | None, holdout: pd.DataFrame) -> Baseline:
    if champion is None:
        return Baseline()
    try:
        return Baseline(score_version(ctx, champion.model_uri, holdout), champion.version)
    except UnusableModelError as exc:
        why = f"version {champion.version}: {exc}"
    previous = ctx.registry.previous_champion()
    if previous is None or previous.version == champion.version:
        return Baseline(unusable=why)
    try:
        return Baseline(score_version(ctx, previous.model_uri, holdout), previous.version, unusable=why)
    except UnusableModelError as exc:
        return Baseline(unusable=f"{why}; previous_champion version {previous.version}: {exc}")


def champion_unusable_alert(ctx: StepContext, evaluated: Any) -> Alert:
    lines = [
        f"The champion cannot be used: {evaluated.champion_unusable}.",
        f"Decision: {'promote' if evaluated.promote else 'no promotion'} - {evaluated.reason}",
        "Check the champion's artifact in MLflow; until then retrains compare with previous_champion "
        "or the gate threshold.",
    ]
    figures = {"champion_version": evaluated.champion_version, "compared_with": evaluated.compared_with}
    name = ctx.config.name
    return Alert(
        "champion_unusable",
        name,
        f"{name}: champion version {evaluated.champion_version} is unusable",
        lines,
        {"Airflow run": ctx.run_url},
        figures,
        f"{ctx.run.dedup_prefix}/champion_unusable",
    )


def refusal(current: Champion | None, evaluated_version: str | None, version: str, window_end: datetime) -> str | None:
    """Why `champion` must not move to `version` now, or None when it may (compare-and-set)."""
    if current is not None and current.version == version:
        return None  # a retry completing its own move
    current_version = current.version if current is not None else None
    if current_version != evaluated_version:
        return (
            f"the champion changed from version {evaluated_version or 'none'} to {current_version or 'none'} "
            f"after this run evaluated against it; rerun the retrain to compare with the new champion"
        )
    champion_end = current.tags.get(WINDOW_END_TAG) if current is not None else None
    if champion_end and datetime.fromisoformat(champion_end) > window_end:
        return (
            f"version {version} was trained on a window ending {window_end.isoformat()}, older than the "
            f"champion version {current_version}'s ({champion_end}); an older window never replaces a newer one"
        )
    return None


@contextmanager
def promotion_lock(artifact_root: Path, model: str) -> Iterator[None]:
    """One promotion of a model at a time on this artifact root (backfills run concurrently)."""
    path = layout.promotion_lock(artifact_root, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
