"""The registry and model store behind the follower: the project's registry and tracking
adapters (fail-closed alias reads, the skops-only loader), never MLflow directly."""

from __future__ import annotations

from typing import Any

from include.retraining.common import Settings
from include.retraining.config import ModelConfig
from include.retraining.learning import trusted_types
from include.retraining.tracking import Registry, Tracker
from serving.follower import AliasTarget


class RegistrySource:
    """Alias reads and model loads of one registered model, trusting what its model file allows."""

    def __init__(self, settings: Settings, config: ModelConfig) -> None:
        self.model_name = config.name
        self._tracker = Tracker(settings, trusted_types=trusted_types(config))
        self._registry = Registry(self._tracker, config.name)

    def alias_target(self, alias: str) -> AliasTarget | None:
        # Registry.alias raises RegistryError on anything but an explicit "does not exist".
        found = self._registry.alias(alias)
        return AliasTarget(found.version, found.run_id, found.tags) if found is not None else None

    def load(self, version: str) -> Any:
        # By version, not by alias: the alias may move between the read and the download.
        return self._tracker.load_model(f"models:/{self.model_name}/{version}")
