"""The MLflow tracking adapter: runs, their tags, metrics, datasets and artifacts, and loading
the models they logged (through `skops_loader`, the project's own skops-only loader). With
`registry.py` (versions and aliases) and its parts by concern, `tracking_dataset.py` (a run's
dataset entity) and `tracking_evidence.py` (the gate's per-row evidence), it is the only place
that reaches mlflow; steps call these methods, so a unit test swaps in a small fake.

The tag names every run and version carries are defined here, once.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from include.retraining.common.settings import REPO_ROOT, Settings
from include.retraining.tracking.dataset import log_dataset
from include.retraining.tracking.loading import (
    UnsafeModelError,
    UnusableModelError,
    import_skops,
    load_model_file,
    load_skops_model,
    model_file,
)

if TYPE_CHECKING:
    from include.retraining.tracking.evidence import EvidenceStore

__all__ = ["Tracker", "UnsafeModelError", "UnusableModelError", "configure", "does_not_exist", "load_skops_model"]

SNAPSHOT_PATH_TAG = "retraining.snapshot_path"
SNAPSHOT_HASH_TAG = "retraining.snapshot_hash"
CONFIG_HASH_TAG = "retraining.config_hash"
MODEL_URI_TAG = "retraining.model_uri"
WINDOW_START_TAG = "retraining.window_start"
WINDOW_END_TAG = "retraining.window_end"
TRIGGER_TAG = "retraining.trigger"
GATE_TAG = "retraining.gate"
GATE_REASON_TAG = "retraining.gate_reason"
DAG_ID_TAG = "airflow.dag_id"
RUN_ID_TAG = "airflow.run_id"
RUN_URL_TAG = "airflow.run_url"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
# MLflow caps a tag value at 5,000 characters (8,000 on newer stores); reasons are cut to fit.
MAX_TAG_CHARS = 5000


def does_not_exist(exc: MlflowException) -> bool:
    """MLflow's explicit "no such model/run/alias" answer, the only error that means absent."""
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


@dataclass(frozen=True)
class TrainingRunLog:
    """What a training run records besides the model: tags, params, the config and the dataset."""

    run_name: str
    tags: dict[str, str]
    params: dict[str, Any]
    config_json: dict[str, Any]
    frame: Any
    snapshot_path: str
    dataset_name: str
    target: str
    extra_tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # artifact folder -> local folder

    @property
    def digest(self) -> str:
        """The snapshot's content hash, from the identity tag every training run carries."""
        return self.tags[SNAPSHOT_HASH_TAG]


@dataclass(frozen=True)
class ModelLog:
    """The fitted model with its signature sample and the skops types it needs trusted."""

    model: Any
    signature_sample: Any
    input_example: Any
    trusted_types: list[str]


@dataclass(frozen=True)
class RunRecord:
    """A run with tags, metrics, files (artifact folder -> local paths) and texts (artifact file -> text)."""

    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    experiment_id: str
    model_uri: str


def configure(settings: Settings) -> MlflowClient:
    """Point the mlflow module and a client at the configured store (tracking and registry)."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


class Tracker:
    """Experiments and runs of one tracking store."""

    def __init__(self, client: MlflowClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    def connect(cls, settings: Settings) -> Tracker:
        return cls(configure(settings), settings)

    def ensure_experiment(self, name: str) -> str:
        """The experiment's id; a local store keeps its artifacts under the data folder, not the cwd."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.settings.tracking_is_local:
            location = (self.settings.mlflow_artifact_root / name).as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:
            # Another task created it between our lookup and create.
            return self.client.get_experiment_by_name(name).experiment_id

    def find_finished_run(self, experiment_id: str, tags: dict[str, str]) -> str | None:
        """The newest finished run carrying all these tags, so a rerun reuses rather than duplicates."""
        clauses = [f"tags.`{key}` = '{value}'" for key, value in sorted(tags.items())]
        clauses.append("attributes.status = 'FINISHED'")
        runs = self.client.search_runs(
            [experiment_id], filter_string=" and ".join(clauses), order_by=["attributes.start_time DESC"], max_results=1
        )
        return runs[0].info.run_id if runs else None

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)

    def run_link(self, experiment_id: str, run_id: str) -> str:
        return run_link(self.settings, experiment_id, run_id)

    @property
    def evidence(self) -> EvidenceStore:
        """The gate decisions' per-row holdout evidence (`tracking_evidence`)."""
        from include.retraining.tracking.evidence import EvidenceStore

        return EvidenceStore(self)

    def log_training_run(self, experiment_id: str, record: TrainingRunLog, model: ModelLog) -> LoggedRun:
        """One finished run holding the tags, params, config, dataset, snapshot and the model."""
        with mlflow.start_run(experiment_id=experiment_id, run_name=record.run_name) as active:
            mlflow.set_tags(record.tags)
            mlflow.log_params(record.params)
            mlflow.log_text(json.dumps(record.config_json, indent=2), "config/model.json")
            log_dataset(record)
            for folder, local in record.artifacts.items():  # the profile; no copy of the snapshot
                mlflow.log_artifacts(local, artifact_path=folder)
            info = _log_sklearn_model(model)
            mlflow.set_tags({MODEL_URI_TAG: info.model_uri, **record.extra_tags})
        return LoggedRun(run_id=active.info.run_id, experiment_id=experiment_id, model_uri=info.model_uri)

    def log_run(self, experiment_id: str, run_name: str, record: RunRecord) -> str:
        """One finished run holding the record; its id."""
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active:
            mlflow.set_tags(record.tags)
            mlflow.log_metrics(record.metrics)
            for folder, paths in record.artifacts.items():
                for path in paths:
                    mlflow.log_artifact(path, artifact_path=folder)
            for artifact_file, text in record.texts.items():
                mlflow.log_text(text, artifact_file)
        return active.info.run_id

    def log_evaluation(self, run_id: str, metrics: dict[str, float], tags: dict[str, str], figure: Any) -> None:
        """Add the gate's figures to a finished training run.

        Through the client, not `start_run(run_id=...)`: an error here must not end the training
        run FAILED, or a rerun of the window would no longer find and reuse it.
        """
        from mlflow.entities import Metric, RunTag

        now_ms = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now_ms, 0) for key, value in metrics.items()],
            tags=[RunTag(key, value[:MAX_TAG_CHARS]) for key, value in tags.items()],
        )
        self.client.log_figure(run_id, figure, "evaluation/holdout.png")

    def download_artifacts(self, run_id: str, artifact_path: str, dst_path: str | None = None) -> Path | None:
        """A run's artifact folder on local disk, under dst_path (default: a new temporary folder);
        None only when the run stored nothing there."""
        try:
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=dst_path, tracking_uri=self.settings.tracking_uri
            )
        except MlflowException as exc:
            if does_not_exist(exc):
                return None
            raise
        except FileNotFoundError:
            return None
        return Path(folder)

    def training_frame(self, run_id: str) -> Any:
        """The run's rows: its local snapshot, else the copy runs logged before profiles existed
        (downloaded to a folder deleted once read); None when neither is stored."""
        from include.retraining.artifacts.snapshots import read_snapshot

        local = self.run_tags(run_id).get(SNAPSHOT_PATH_TAG)
        if local and Path(local).exists():
            return read_snapshot(local)
        with tempfile.TemporaryDirectory(prefix="retraining-snapshot-") as staging:
            folder = self.download_artifacts(run_id, "snapshot", dst_path=staging)
            files = sorted(folder.glob("*.parquet")) if folder else []
            return read_snapshot(files[0]) if files else None

    def load_model(self, model_uri: str) -> Any:
        """The sklearn model behind a `models:/` or `runs:/` URI, through the project's own loader.

        Raises UnusableModelError when the artifact is missing, corrupt or not ours; any other
        MLflow error (the server unreachable) propagates, so the task is retried.
        """
        # Two files, not the model folder: the folder also holds the ~90 files of the project's code
        # (code_paths) and the environment specs, a request each through a tracking server.
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        uri = self.settings.tracking_uri
        with tempfile.TemporaryDirectory(prefix="model-") as scratch:  # else a remote store's copy stays in /tmp
            folder = Path(scratch)
            try:
                repository = get_artifact_repository(model_uri, tracking_uri=uri, registry_uri=uri)
            except MlflowException as exc:
                if does_not_exist(exc):
                    raise UnusableModelError(f"{model_uri}: no such model in the store ({exc})") from exc
                raise
            _download_model_file(repository, model_uri, "MLmodel", folder)
            name = model_file(folder, model_uri)  # checked before the model file is fetched
            _download_model_file(repository, model_uri, name, folder)
            return load_model_file(folder / name, model_uri)


def _download_model_file(repository: Any, model_uri: str, name: str, folder: Path) -> None:
    try:
        repository.download_artifacts(name, dst_path=str(folder))
    except MlflowException as exc:
        if does_not_exist(exc):
            raise UnusableModelError(f"{model_uri}: the model's {name} is not in the store ({exc})") from exc
        raise
    except FileNotFoundError as exc:
        raise UnusableModelError(f"{model_uri}: the model's {name} is missing ({exc})") from exc


def _log_sklearn_model(model: ModelLog) -> Any:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    import_skops()  # before MLflow imports it, so its import-time warnings are not logged
    sample = model.signature_sample
    return mlflow.sklearn.log_model(
        model.model,
        name="model",
        signature=infer_signature(sample, model.model.predict(sample)),
        input_example=model.input_example,
        code_paths=[str(REPO_ROOT / "include")],
        pip_requirements=_pip_requirements(),
        serialization_format="skops",
        skops_trusted_types=model.trusted_types,
    )


def _pip_requirements() -> list[str]:
    # Pinned from the running environment: inference spawns a subprocess and takes seconds.
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("scikit-learn", "pandas", "numpy", "mlflow", "pyarrow", "skops")]


def run_link(settings: Settings, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI (RETRAINING_MLFLOW_UI_URL), never with credentials."""
    return f"{settings.mlflow_ui_base}/#/experiments/{experiment_id}/runs/{run_id}"
