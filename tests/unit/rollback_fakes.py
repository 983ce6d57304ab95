"""A registry fake that moves aliases the way `registry.Registry` does, and a tracker fake of
model versions, for the promotion-log, rollback and auto-rollback tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.retraining.common.settings import load_settings
from include.retraining.config.model import load_model_config
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.tracking.registry import Champion
from include.retraining.tracking.tracker import DAG_ID_TAG

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
WHEN = datetime(2026, 3, 30, 2, tzinfo=UTC)


@dataclass
class MovingRegistry:
    """Versions by number, aliases that move; `fail_moves` makes the next alias moves raise."""

    name: str = "churn"
    versions: dict[str, str] = field(default_factory=dict)  # version -> run id
    aliases: dict[str, str] = field(default_factory=dict)
    fail_moves: int = 0
    moves: list[str] = field(default_factory=list)

    def _get(self, version: str | None, alias: str) -> Champion | None:
        if version is None:
            return None
        return Champion(version, self.versions[version], f"models:/{self.name}@{alias}", {})

    def champion(self) -> Champion | None:
        return self._get(self.aliases.get("champion"), "champion")

    def previous_champion(self) -> Champion | None:
        return self._get(self.aliases.get("previous_champion"), "previous_champion")

    def version(self, version: str) -> Champion | None:
        if version not in self.versions:
            return None
        return Champion(version, self.versions[version], f"models:/{self.name}/{version}", {})

    def promote(self, version: str, tags: dict) -> str | None:
        if self.fail_moves:
            self.fail_moves -= 1
            raise ConnectionError("the tracking server did not answer")
        previous = self.aliases.get("champion")
        if previous == version:
            return self.aliases.get("previous_champion")
        self.aliases["champion"] = version
        if previous is not None:
            self.aliases["previous_champion"] = previous
        self.moves.append(version)
        return previous


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
) -> StepContext:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    run = RunInfo("rollback_churn", run_id, WHEN, trigger="manual", actor=actor)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    return StepContext(config, settings, run, url, fake_tracker=tracker or VersionTracker(), fake_registry=registry)
