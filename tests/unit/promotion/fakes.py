"""A registry fake that moves aliases the way `tracking.Registry` does, a tracker fake of model
versions and a stand-in for a fitted model, for the move, rollback and auto-rollback tests (the
monitor's auto-rollback task too). The promotion log is always a real SQLite database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.runs import RunInfo, StepContext
from include.retraining.tables import PromotionRecord, history
from include.retraining.tracking import DAG_ID_TAG, Champion
from include.retraining.warehouse import Database

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
WHEN = datetime(2026, 3, 30, 2, tzinfo=UTC)


@dataclass
class MovingRegistry:
    """Versions by number, aliases that move; `fail_moves` makes the next alias moves raise;
    `tags` are version tags by version (what the gate left on a version)."""

    name: str = "churn"
    versions: dict[str, str] = field(default_factory=dict)  # version -> run id
    aliases: dict[str, str] = field(default_factory=dict)
    fail_moves: int = 0
    # The next promote moves `champion`, then dies before `previous_champion` (a killed worker).
    die_between_moves: bool = False
    moves: list[str] = field(default_factory=list)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def champion(self) -> Champion | None:
        return self.version(self.aliases.get("champion"))

    def previous_champion(self) -> Champion | None:
        return self.version(self.aliases.get("previous_champion"))

    def version(self, version: str | None) -> Champion | None:
        if version not in self.versions:
            return None
        return Champion(version, self.versions[version], f"models:/{self.name}/{version}", self.tags.get(version, {}))

    def promote(self, version: str, tags: dict) -> str | None:
        if self.fail_moves:
            self.fail_moves -= 1
            raise ConnectionError("the tracking server did not answer")
        previous = self.aliases.get("champion")
        if previous == version:
            return self.aliases.get("previous_champion")
        self.aliases["champion"] = version
        self.moves.append(version)
        if self.die_between_moves:
            self.die_between_moves = False
            raise SystemExit("worker killed between the champion and previous_champion moves")
        if previous is not None:
            self.point_previous_champion(previous, version)
        return previous

    def point_previous_champion(self, version: str, replaced_by: str) -> None:
        self.aliases["previous_champion"] = version

    def alias(self, alias: str) -> Champion | None:
        return self.version(self.aliases.get(alias))

    def mark_challenger(self, version: str, tags: dict[str, str]) -> None:
        self.tags[version] = {**self.tags.get(version, {}), **tags}
        self.aliases["challenger"] = version

    def remove_alias(self, alias: str) -> None:
        self.aliases.pop(alias, None)


def three_versions() -> MovingRegistry:
    """Versions 1..3 of churn; 3 is champion, 2 previous_champion."""
    return MovingRegistry(
        versions={"1": "run-1", "2": "run-2", "3": "run-3"}, aliases={"champion": "3", "previous_champion": "2"}
    )


@dataclass
class VersionTracker:
    """Models by URI (an exception stands for one that does not load) and run tags by run id."""

    models: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def load_model(self, uri: str) -> Any:
        model = self.models.get(uri, "a model")
        if isinstance(model, Exception):
            raise model
        return model

    def run_tags(self, run_id: str) -> dict[str, str]:
        return self.tags.get(run_id, {DAG_ID_TAG: "retrain_churn"})


def context(
    tmp_path: Path,
    registry: MovingRegistry,
    tracker: VersionTracker | None = None,
    run_id: str = "manual__1",
    actor: str = "alice",
    config: Any = CONFIG,
    window_end: datetime = WHEN,
) -> StepContext:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    run = RunInfo("rollback_churn", run_id, window_end, trigger="manual", actor=actor)
    tracker = tracker or VersionTracker()
    return StepContext(config, settings, run, tracker=tracker, registry=registry, pipeline_db=log_db(tmp_path))


def log_db(tmp_path: Path) -> Database:
    """The SQLite database of the promotion log under `tmp_path` (created on first write)."""
    return Database(f"sqlite:///{tmp_path / 'warehouse.db'}")


def logged_moves(tmp_path: Path) -> list[PromotionRecord]:
    """The promotion log of churn under `tmp_path`, oldest first."""
    return history(log_db(tmp_path), "churn")


class Scorer:
    """A fitted model's stand-in: the churn probability from a weighted sum of its own columns."""

    def __init__(self, weights: dict[str, float], features: list[str]) -> None:
        self.weights = weights
        self.feature_names_in_ = np.array(features, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if list(frame.columns) != list(self.feature_names_in_):
            raise ValueError(f"scored on {list(frame.columns)}, fitted on {list(self.feature_names_in_)}")
        logit = sum(w * frame[c].to_numpy() for c, w in self.weights.items())
        p = 1 / (1 + np.exp(-logit))
        return np.column_stack([1 - p, p])


# The automatic rollback's world: a label driven by `signal`, two columns of pure noise.
SIGNAL_FEATURES = ["signal", "noise_a", "noise_b"]
GOOD = {"signal": 1.5}  # the weights of a model that learned the signal


def signal_rows(rows: int = 3000, seed: int = 5) -> pd.DataFrame:
    """Matured rows whose label `churned` follows `signal`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=rows) for c in SIGNAL_FEATURES})
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-1.5 * frame["signal"]))).astype(int)
    return frame


def auto_rollback_context(
    tmp_path: Path, champion: Any, previous: Any, on: bool = True
) -> tuple[StepContext, MovingRegistry]:
    """Version 2 is champion, version 1 previous_champion, each loaded as the given model; the
    gate judges on ROC AUC alone; the monitor runs as the scheduler."""
    config = CONFIG.model_copy(
        update={
            "target": "churned",
            "monitor": CONFIG.monitor.model_copy(update={"auto_rollback": on}),
            "gate": CONFIG.gate.model_copy(update={"metric": "roc_auc", "guardrails": {}, "threshold": None}),
        }
    )
    registry = MovingRegistry(
        versions={"1": "run-1", "2": "run-2"}, aliases={"champion": "2", "previous_champion": "1"}
    )
    tracker = VersionTracker(models={"models:/churn/2": champion, "models:/churn/1": previous})
    return context(tmp_path, registry, tracker, run_id="scheduled__1", actor="scheduler", config=config), registry
