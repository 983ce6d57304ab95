"""What the challenger is compared with.

The baseline is the champion, loaded by the version the run read from the alias, scored with its
own feature list; when the champion cannot be loaded or scored by our code (`UnusableModelError`:
artifact missing or corrupt, refused by the loader, columns it cannot score), `previous_champion`,
and when that fails too, nothing: the gate threshold decides (reason `champion_unusable`), and with
no `gate.threshold` the challenger is blocked, never promoted on no comparison at all. A worker's
trouble while loading or scoring (memory, disk, network, an MLflow error) is no verdict on the
champion: it propagates and the task is retried.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.alerts import Alert
from include.retraining.config import ModelConfig
from include.retraining.learning import MODEL_SCORING_ERRORS, model_features, predict_scores
from include.retraining.promotion.gate import GateDecision
from include.retraining.runs import StepContext
from include.retraining.tracking import Champion, UnusableModelError


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


def score_version(ctx: StepContext, model_uri: str, holdout: pd.DataFrame) -> np.ndarray:
    """Load a registered model and score the holdout with its own features, or raise UnusableModelError."""
    model = ctx.tracker.load_model(model_uri)
    columns = model_features(model, ctx.config.features.columns)
    missing = [c for c in columns if c not in holdout.columns]
    if missing:
        raise UnusableModelError(f"it needs features {missing} that the snapshot no longer holds")
    try:
        return predict_scores(model, holdout[columns], ctx.config.task, ctx.settings.fit_threads)
    except MODEL_SCORING_ERRORS as exc:
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


def fail_closed(config: ModelConfig, baseline: Baseline, decision: GateDecision) -> GateDecision:
    """The gate's decision, blocked when a champion exists but nothing could be compared with it
    and no `gate.threshold` is set: a fallback never promotes on nothing."""
    if not decision.promote or baseline.unusable is None or baseline.scores is not None:
        return decision
    if config.gate.threshold is not None:
        return decision
    reason = (
        f"no gate.threshold is set, so nothing to promote on: blocked. Make the champion loadable again "
        f"(or roll back to a version that loads with rollback_{config.name}), or set gate.threshold in "
        f"{config.name}'s model file"
    )
    return replace(decision, promote=False, reason=reason)


def champion_unusable_alert(ctx: StepContext, evaluated: Any) -> Alert:
    lines = [
        f"The champion cannot be used: {evaluated.champion_unusable}.",
        f"Decision: {'promote' if evaluated.promote else 'no promotion'} - {evaluated.reason}",
        "Check the champion's artifact in MLflow; until then retrains compare with previous_champion, "
        "or judge on gate.threshold alone (and block when none is set).",
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
