"""The MLflow tracking adapter: experiments and runs, their tags, metrics, datasets and
artifacts, and the models they logged, loaded through the project's own skops-only loader
(`loading.py`). With `registry.py` (versions and aliases) it is the only place that reaches
MLflow; steps call these methods, so a unit test hands a step a small fake instead.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from include.retraining.common import REPO_ROOT, Settings
from include.retraining.locking import named_lock
from include.retraining.tracking.dataset import log_dataset
from include.retraining.tracking.evidence import EvidenceStore
from include.retraining.tracking.loading import UnusableModelError, import_skops, load_model_file, model_file
from include.retraining.tracking.records import LoggedRun, ModelLog, RunRecord, TrainingRunLog
from include.retraining.tracking.tags import MAX_TAG_CHARS, MODEL_URI_TAG, SNAPSHOT_PATH_TAG
from include.retraining.warehouse import Database


def does_not_exist(exc: MlflowException) -> bool:
    """MLflow's explicit "no such model/run/alias" answer, the only error that means absent."""
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def configure(settings: Settings) -> MlflowClient:
    """Point the mlflow module and a client at the configured store (tracking and registry); an
    embedded SQLite store is created first, once (`create_sqlite_store`)."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:"):
        create_sqlite_store(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def create_sqlite_store(uri: str) -> None:
    """Create an embedded SQLite store's tables under a lock beside its file.

    MLflow creates the tables of an empty store on first open, through alembic migrations that
    two processes cannot run at once ("table _alembic_tmp_tags already exists"): the first two
    tasks of a fresh `make airflow` or test stack start together. The second waits here and finds
    the tables made; an existing store costs a lock and one query. A SQLite file is one host's, so
    its lock (`named_lock`'s file lock) needs to be no more.
    """
    store = Database(uri)
    if store.database_file is None:
        return
    Path(store.database_file).parent.mkdir(parents=True, exist_ok=True)
    with named_lock(store, "mlflow-store-create"):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)


class Tracker:
    """Experiments, runs and models of one tracking store. It connects on first use, and loads a
    model trusting only `trusted_types` (the project's, `learning.SKOPS_TRUSTED_TYPES`)."""

    def __init__(self, settings: Settings, *, trusted_types: Sequence[str], client: MlflowClient | None = None) -> None:
        self.settings = settings
        self.trusted_types = tuple(trusted_types)
        if client is not None:
            self.__dict__["client"] = client

    @cached_property
    def client(self) -> MlflowClient:
        return configure(self.settings)

    def _connect(self) -> None:
        """Make the client, which points the mlflow module at this store (`configure`): module-level
        calls (start_run, and the downloads that resolve a logged model's location) read the
        module's URIs, not the client's, and would otherwise open MLflow's default store."""
        _ = self.client

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
        """The gate decisions' per-row holdout evidence, stored on the challengers' runs."""
        return EvidenceStore(self.client, self.download_artifacts)

    def log_training_run(self, experiment_id: str, record: TrainingRunLog, model: ModelLog) -> LoggedRun:
        """One finished run holding the tags, params, config, dataset (the snapshot by its hash), the
        reference profile and the model."""
        self._connect()
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
        from include.retraining.artifacts import local_copy

        self._connect()
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active:
            mlflow.set_tags(record.tags)
            mlflow.log_metrics(record.metrics)
            for folder, paths in record.artifacts.items():
                for path in paths:  # files of the artifact store, local or not
                    with local_copy(path) as local:
                        mlflow.log_artifact(str(local), artifact_path=folder)
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
        self._connect()
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
        """The run's rows: its snapshot in the artifact store, else the copy runs logged before
        profiles existed (downloaded to a folder deleted once read); None when neither is stored."""
        from include.retraining.artifacts import artifact_path, read_snapshot

        stored = self.run_tags(run_id).get(SNAPSHOT_PATH_TAG)
        if stored and artifact_path(stored).exists():
            return read_snapshot(stored)
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

        self._connect()
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
            name = model_file(folder, model_uri, self.trusted_types)  # checked before the model file is fetched
            _download_model_file(repository, model_uri, name, folder)
            return load_model_file(folder / name, model_uri, self.trusted_types)


def _download_model_file(repository: Any, model_uri: str, name: str, folder: Path) -> None:
    try:
        repository.download_artifacts(name, dst_path=str(folder))
    except MlflowException as exc:
        if does_not_exist(exc) or _not_listed(repository, name):
            raise UnusableModelError(f"{model_uri}: the model's {name} is not in the store ({exc})") from exc
        raise
    except FileNotFoundError as exc:
        raise UnusableModelError(f"{model_uri}: the model's {name} is missing ({exc})") from exc


def _not_listed(repository: Any, name: str) -> bool:
    """Whether the store, asked again, lists the model's folder without `name`.

    A served artifact store (`mlflow server --serve-artifacts`) answers a missing file with a 404
    that MLflow wraps with the default error code, like any other failed download; only the
    store's own listing tells "not there" from "not reachable". A listing that fails says nothing:
    the download's error stands and the task is retried.
    """
    parent = posixpath.dirname(name)
    try:
        listed = repository.list_artifacts(parent or None)
    except Exception:  # noqa: BLE001 - an unanswered listing proves nothing; the caller re-raises
        return False
    return all(posixpath.basename(info.path) != posixpath.basename(name) for info in listed)


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
