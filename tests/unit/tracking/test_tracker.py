"""The tracking adapter on a real MLflow SQLite store: it connects on first use, evaluation
logging never fails the training run, and only "nothing stored there" reads as absent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from include.retraining.common import load_settings
from include.retraining.learning import SKOPS_TRUSTED_TYPES
from include.retraining.tracking import Tracker, UnusableModelError
from tests.support import MODEL_PIP_REQUIREMENTS, save_skops_model

pytestmark = pytest.mark.unit


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    return Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)


def test_a_failing_evaluation_log_leaves_the_training_run_finished(tracker: Tracker) -> None:
    experiment = tracker.ensure_experiment("churn")
    run = tracker.client.create_run(experiment)
    tracker.client.set_terminated(run.info.run_id)
    with pytest.raises(Exception):  # noqa: B017 - whatever the plotting error, the run stays FINISHED
        tracker.log_evaluation(run.info.run_id, {"holdout_roc_auc": 0.8}, {"retraining.gate": "block"}, object())
    assert tracker.client.get_run(run.info.run_id).info.status == "FINISHED"
    assert tracker.run_metrics(run.info.run_id)["holdout_roc_auc"] == 0.8


def test_missing_snapshot_artifacts_mean_none_not_an_error(tracker: Tracker, tmp_path: Path) -> None:
    experiment = tracker.ensure_experiment("churn")
    run = tracker.client.create_run(experiment)
    assert tracker.training_frame(run.info.run_id) is None
    assert tracker.download_artifacts(run.info.run_id, "reference", dst_path=str(tmp_path)) is None


def test_a_model_uri_with_no_files_is_unusable(tracker: Tracker) -> None:
    with pytest.raises(UnusableModelError):
        tracker.load_model("models:/churn@champion")


def test_ensure_experiment_is_idempotent(tracker: Tracker) -> None:
    assert tracker.ensure_experiment("churn") == tracker.ensure_experiment("churn")
    assert isinstance(tracker.client, MlflowClient)


def test_it_connects_on_first_use_or_uses_the_client_it_is_given(tmp_path: Path) -> None:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    lazy = Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)
    assert "client" not in vars(lazy), "building a tracker must not reach the store"
    assert lazy.client.tracking_uri == settings.tracking_uri and lazy.client is lazy.client

    given = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'other.db'}")
    assert Tracker(settings, trusted_types=[], client=given).client is given


def _logged_churn_model(settings) -> None:
    """A registered model `churn` v1 in the settings' store, logged skops-only as the pipeline does."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.sklearn import log_model
    from sklearn.linear_model import LogisticRegression

    writer = Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)
    rows = pd.DataFrame({"x": np.arange(40, dtype="float64")})
    fitted = LogisticRegression().fit(rows, (rows["x"] > 20).astype(int))
    experiment = writer.ensure_experiment("churn")
    with mlflow.start_run(experiment_id=experiment):
        info = log_model(
            fitted,
            name="model",
            serialization_format="skops",
            skops_trusted_types=[],
            pip_requirements=MODEL_PIP_REQUIREMENTS,
        )
    writer.client.create_registered_model("churn")
    writer.client.create_model_version("churn", info.model_uri, info.run_id)


def test_a_fresh_tracker_loads_from_its_store_never_from_mlflows_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task's first MLflow call may be a model load (score_<model>'s score task): the module-level
    URIs MLflow resolves a logged model with must be this store's, not the default `./mlflow.db`."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    _logged_churn_model(settings)
    # A new task process: nothing has configured the mlflow module yet.
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    model = Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES).load_model("models:/churn/1")

    assert model.predict(pd.DataFrame({"x": [1.0, 39.0]})).tolist() == [0, 1]
    assert not (tmp_path / "mlflow.db").exists(), "MLflow's default store was opened in the working directory"


def _first_touch(uri: str, barrier, answers) -> None:
    from include.retraining.tracking import configure

    barrier.wait()  # every process opens the empty store at the same moment
    try:
        client = configure(load_settings({"MLFLOW_TRACKING_URI": uri}))
        client.search_experiments(max_results=1)
        answers.put("ok")
    except Exception as exc:  # noqa: BLE001 - the answer is what the test reads
        answers.put(f"{type(exc).__name__}: {exc}".splitlines()[0])


@pytest.mark.parametrize("attempt", [1, 2])
def test_processes_opening_an_empty_embedded_store_at_once_all_succeed(tmp_path: Path, attempt: int) -> None:
    """The first tasks of a fresh stack start together; MLflow's first-open migrations raced
    ("table _alembic_tmp_tags already exists") until configure created the store under a lock."""
    import multiprocessing

    forked = multiprocessing.get_context("fork")
    uri = f"sqlite:///{tmp_path / 'data' / 'mlflow.db'}"
    barrier, answers = forked.Barrier(4), forked.Queue()
    processes = [forked.Process(target=_first_touch, args=(uri, barrier, answers)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [answers.get(timeout=5) for _ in processes] == ["ok"] * 4


class _ServedRepository:
    """MLflow's repository of a model on a served artifact store (`mlflow server --serve-artifacts`),
    as it fails: a file that will not download raises MlflowException with the default error code,
    whether it is gone (a 404) or the server is in trouble (a 503)."""

    def __init__(self, folder: Path, gone: set[str], status: int = 404, listing: Exception | None = None) -> None:
        self.folder, self.gone, self.status, self.listing = folder, gone, status, listing

    def download_artifacts(self, name: str, dst_path: str) -> str:
        import shutil

        from mlflow.exceptions import MlflowException

        if name in self.gone or self.status != 404:
            raise MlflowException(
                "The following failures occurred while downloading one or more artifacts from "
                f"http://mlflow/api/2.0/mlflow-artifacts/artifacts/0/models/m-1/artifacts:\n##### File {name} "
                f"#####\n{self.status} Error for url: http://mlflow/.../{name}"
            )
        return shutil.copy(self.folder / name, dst_path)

    def list_artifacts(self, path: str | None = None) -> list:
        from mlflow.entities import FileInfo

        if self.listing is not None:
            raise self.listing
        return [FileInfo(p.name, False, p.stat().st_size) for p in self.folder.iterdir() if p.name not in self.gone]


@pytest.fixture
def served_model(tmp_path: Path) -> Path:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rows = pd.DataFrame({"x": np.arange(20.0)})
    folder = tmp_path / "served" / "model"
    model = LogisticRegression().fit(rows, np.arange(20) % 2)
    return save_skops_model(model, folder)


def _serve(monkeypatch: pytest.MonkeyPatch, repository: _ServedRepository) -> None:
    import mlflow.store.artifact.artifact_repository_registry as registry

    monkeypatch.setattr(registry, "get_artifact_repository", lambda *args, **kwargs: repository)


def test_a_model_file_gone_from_a_served_store_is_unusable(
    tracker: Tracker, served_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve(monkeypatch, _ServedRepository(served_model, gone={"model.skops"}))

    with pytest.raises(UnusableModelError, match=r"models:/churn/1: the model's model.skops is not in the store"):
        tracker.load_model("models:/churn/1")


@pytest.mark.parametrize(
    "store",
    [{"status": 503}, {"gone": {"model.skops"}, "listing": ConnectionError("connection reset")}],
    ids=["download fails, file listed", "listing fails too"],
)
def test_a_served_store_in_trouble_is_no_verdict_on_the_model(
    tracker: Tracker, served_model: Path, monkeypatch: pytest.MonkeyPatch, store: dict
) -> None:
    from mlflow.exceptions import MlflowException

    _serve(monkeypatch, _ServedRepository(served_model, **{"gone": set(), **store}))

    with pytest.raises(MlflowException):  # not UnusableModelError: the task fails and is retried
        tracker.load_model("models:/churn/1")
