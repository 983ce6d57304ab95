"""The MLflow adapter: experiments, training runs, registered versions and the aliases that
say which version serves. MLflow 3 conventions only: aliases, never the deprecated stages."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from include.retraining.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    model_uri: str
    tags: dict[str, str]


def configure(settings: Settings) -> MlflowClient:
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def ensure_experiment(client: MlflowClient, name: str, settings: Settings) -> str:
    """The experiment's id; a local store keeps its artifacts under the data folder, not the cwd."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if settings.tracking_is_local:
        location = (settings.mlflow_artifact_root / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        # Another task created it between our lookup and create.
        return client.get_experiment_by_name(name).experiment_id


def find_finished_run(client: MlflowClient, experiment_id: str, tags: dict[str, str]) -> str | None:
    """The newest finished run carrying all these tags, so a rerun reuses rather than duplicates."""
    clauses = [f"tags.`{key}` = '{value}'" for key, value in sorted(tags.items())]
    clauses.append("attributes.status = 'FINISHED'")
    runs = client.search_runs(
        [experiment_id], filter_string=" and ".join(clauses), order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0].info.run_id if runs else None


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


def version_for_run(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    try:
        versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    return max(versions, key=lambda v: int(v.version)) if versions else None


def register_version(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
    """Register the run's model once; a retry finds the version it already made."""
    existing = version_for_run(client, name, run_id)
    if existing is not None:
        return str(existing.version)
    # register_model resolves a logged-model URI (models:/m-...) on file, SQL and REST stores alike.
    version = mlflow.register_model(model_uri, name, tags=tags, await_registration_for=0)
    _wait_ready(client, name, str(version.version))
    return str(version.version)


def _wait_ready(client: MlflowClient, name: str, version: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get_model_version(name, version).status == "PENDING_REGISTRATION":
        if time.monotonic() > deadline:
            raise TimeoutError(f"model {name} version {version} still pending after {timeout_s:.0f}s")
        time.sleep(0.5)


def promote(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> str | None:
    """Move `champion` to the version; the old champion keeps alias `previous_champion`.

    The version is tagged first and the alias moved last, so a crash in between leaves the
    old champion serving, and a retry completes the move.
    """
    previous = get_champion(client, name)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if previous is not None and previous.version != version:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, previous.version)
        client.set_model_version_tag(name, previous.version, "retraining.replaced_by_version", version)
    client.set_registered_model_alias(name, CHAMPION, version)
    return previous.version if previous and previous.version != version else None


def mark_challenger(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHALLENGER, version)


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    try:
        return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}
    except MlflowException:
        return {}


def run_link(settings: Settings, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI (RETRAINING_MLFLOW_UI_URL), never with credentials."""
    return f"{settings.mlflow_ui_base}/#/experiments/{experiment_id}/runs/{run_id}"


def run_tags(client: MlflowClient, run_id: str) -> dict[str, Any]:
    return dict(client.get_run(run_id).data.tags)
