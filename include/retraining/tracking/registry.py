"""The MLflow registry adapter: registered versions and the aliases that say which version
serves. MLflow 3 conventions only: aliases, never the deprecated stages.

Fail closed: only the registry's explicit "does not exist" answer means "no champion"; any other
error (a server down, a 5xx, a 401) raises `RegistryError`, so the task fails and is retried
instead of taking the first-model branch and replacing the real champion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode

from include.retraining.tracking.tags import REPLACED_BY_TAG, REPLACES_TAG
from include.retraining.tracking.tracker import Tracker, does_not_exist

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"

INVALID_PARAMETER = ErrorCode.Name(INVALID_PARAMETER_VALUE)


class RegistryError(RuntimeError):
    """The registry did not answer (or answered with an error): nothing may be decided on it."""


@dataclass(frozen=True)
class Champion:
    """A version behind an alias (`champion` or `previous_champion`). `model_uri` names the version
    itself, never the alias: what was read is what is loaded, even if the alias moves meanwhile."""

    version: str
    run_id: str
    model_uri: str
    tags: dict[str, str]


class Registry:
    """The registered model of one model config: its versions and aliases, through the tracker's
    store (connected on first use)."""

    def __init__(self, tracker: Tracker, name: str) -> None:
        self.tracker = tracker
        self.name = name

    @property
    def client(self) -> Any:
        return self.tracker.client

    def champion(self) -> Champion | None:
        return self.alias(CHAMPION)

    def previous_champion(self) -> Champion | None:
        return self.alias(PREVIOUS_CHAMPION)

    def alias(self, alias: str) -> Champion | None:
        """The version behind an alias; None only when the model or the alias does not exist."""
        try:
            version = self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            if does_not_exist(exc) or (exc.error_code == INVALID_PARAMETER and self._alias_absent(alias)):
                return None
            raise self._error(f"cannot read alias {alias!r}", exc) from exc
        return Champion(
            version=str(version.version),
            run_id=version.run_id,
            model_uri=f"models:/{self.name}/{version.version}",
            tags=dict(version.tags),
        )

    def version(self, version: str) -> Champion | None:
        """A version of this model by number; None only when the registry says it does not exist."""
        try:
            found = self.client.get_model_version(self.name, version)
        except MlflowException as exc:
            if does_not_exist(exc):
                return None
            raise self._error(f"cannot read version {version}", exc) from exc
        return Champion(str(found.version), found.run_id, f"models:/{self.name}/{found.version}", dict(found.tags))

    def _alias_absent(self, alias: str) -> bool:
        # A missing alias on an existing model is INVALID_PARAMETER_VALUE, not "does not exist":
        # confirm it from the model's alias list before reading it as absent.
        try:
            aliases = self.client.get_registered_model(self.name).aliases
        except MlflowException as exc:
            if does_not_exist(exc):
                return True
            raise self._error(f"cannot list the aliases to check {alias!r}", exc) from exc
        return alias not in aliases

    def _error(self, what: str, exc: Exception) -> RegistryError:
        return RegistryError(
            f"model {self.name!r}: {what} in the MLflow registry ({exc}); nothing is decided or "
            "promoted on an unknown registry state: check the tracking server and retry the task"
        )

    def version_for_run(self, run_id: str) -> ModelVersion | None:
        """The newest version registered from the run; an error raises (no duplicate registration)."""
        try:
            versions = self.client.search_model_versions(f"name = '{self.name}' and run_id = '{run_id}'")
        except MlflowException as exc:
            if does_not_exist(exc):
                return None
            raise self._error(f"cannot look up the version of run {run_id}", exc) from exc
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
        """Move `champion` to the version; the replaced champion gets alias `previous_champion`.

        Order: tag the version (with the version it replaces), move `champion`, then move
        `previous_champion`. A failure before the champion move changes no alias; a failure after
        it is completed by a retry, which finds the replaced version in the tag. The rollback
        pointer is never lost. Returns the replaced version.
        """
        current = self.champion()
        if current is not None and current.version == version:
            previous = self.client.get_model_version(self.name, version).tags.get(REPLACES_TAG) or None
        else:
            previous = current.version if current is not None else None
            self.tag_version(version, {**tags, **({REPLACES_TAG: previous} if previous else {})})
            self.client.set_registered_model_alias(self.name, CHAMPION, version)
        if previous is not None:
            self.point_previous_champion(previous, version)
        return previous

    def point_previous_champion(self, version: str, replaced_by: str) -> None:
        """Alias `previous_champion` to `version`, tagged with the version that replaced it."""
        self.client.set_registered_model_alias(self.name, PREVIOUS_CHAMPION, version)
        self.client.set_model_version_tag(self.name, version, REPLACED_BY_TAG, replaced_by)

    def mark_challenger(self, version: str, tags: dict[str, str]) -> None:
        self.tag_version(version, tags)
        self.client.set_registered_model_alias(self.name, CHALLENGER, version)

    def remove_alias(self, alias: str) -> None:
        """Delete the alias; an alias already gone is no error (a retry of the same removal)."""
        try:
            self.client.delete_registered_model_alias(self.name, alias)
        except MlflowException as exc:
            if not (does_not_exist(exc) or self._alias_absent(alias)):
                raise self._error(f"cannot remove alias {alias!r}", exc) from exc

    def latest_version(self) -> Champion | None:
        """The newest registered version and its tags (the latest gate decision); None when there is none."""
        try:
            versions = self.client.search_model_versions(f"name = '{self.name}'")
        except MlflowException as exc:
            if does_not_exist(exc):
                return None
            raise self._error("cannot list the model's versions", exc) from exc
        if not versions:
            return None
        newest = max(versions, key=lambda v: int(v.version))
        return Champion(str(newest.version), newest.run_id, f"models:/{self.name}/{newest.version}", dict(newest.tags))
