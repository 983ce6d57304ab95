"""The MLflow registry adapter: registered versions and the aliases that say which version
serves. MLflow 3 conventions only: aliases, never the deprecated stages."""

from __future__ import annotations

import time
from dataclasses import dataclass

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from include.retraining.tracking import configure

__all__ = ["CHALLENGER", "CHAMPION", "PREVIOUS_CHAMPION", "Champion", "Registry", "configure", "get_champion"]

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"

DECISION_TAG = "retraining.decision"
REASON_TAG = "retraining.reason"
DECIDED_BY_TAG = "retraining.decided_by_run"
COMPARED_WITH_TAG = "retraining.compared_with_version"
REPLACED_BY_TAG = "retraining.replaced_by_version"


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    model_uri: str
    tags: dict[str, str]


def get_champion(client: MlflowClient, name: str) -> Champion | None:
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return Champion(
        version=str(version.version),
        run_id=version.run_id,
        model_uri=f"models:/{name}@{CHAMPION}",
        tags=dict(version.tags),
    )


class Registry:
    """The registered model of one model config: its versions and aliases."""

    def __init__(self, client: MlflowClient, name: str) -> None:
        self.client = client
        self.name = name

    def champion(self) -> Champion | None:
        return get_champion(self.client, self.name)

    def version_for_run(self, run_id: str) -> ModelVersion | None:
        try:
            versions = self.client.search_model_versions(f"name = '{self.name}' and run_id = '{run_id}'")
        except MlflowException:
            return None
        return max(versions, key=lambda v: int(v.version)) if versions else None

    def register_version(self, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
        """Register the run's model once; a retry finds the version it already made."""
        existing = self.version_for_run(run_id)
        if existing is not None:
            return str(existing.version)
        # register_model resolves a logged-model URI (models:/m-...) on file, SQL and REST stores alike.
        version = mlflow.register_model(model_uri, self.name, tags=tags, await_registration_for=0)
        self._wait_ready(str(version.version))
        return str(version.version)

    def _wait_ready(self, version: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.client.get_model_version(self.name, version).status == "PENDING_REGISTRATION":
            if time.monotonic() > deadline:
                raise TimeoutError(f"model {self.name} version {version} still pending after {timeout_s:.0f}s")
            time.sleep(0.5)

    def tag_version(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)

    def promote(self, version: str, tags: dict[str, str]) -> str | None:
        """Move `champion` to the version; the old champion keeps alias `previous_champion`.

        The version is tagged first and the alias moved last, so a crash in between leaves the
        old champion serving, and a retry completes the move.
        """
        previous = self.champion()
        self.tag_version(version, tags)
        if previous is not None and previous.version != version:
            self.client.set_registered_model_alias(self.name, PREVIOUS_CHAMPION, previous.version)
            self.client.set_model_version_tag(self.name, previous.version, REPLACED_BY_TAG, version)
        self.client.set_registered_model_alias(self.name, CHAMPION, version)
        return previous.version if previous and previous.version != version else None

    def mark_challenger(self, version: str, tags: dict[str, str]) -> None:
        self.tag_version(version, tags)
        self.client.set_registered_model_alias(self.name, CHALLENGER, version)
