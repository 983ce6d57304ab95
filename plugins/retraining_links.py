"""The Airflow UI as the operator's console: links from a task instance to what it produced,
and the endpoint that serves the produced files.

| DAG | task | link | target |
|---|---|---|---|
| `retrain_<model>` | train, evaluate | MLflow run | the run in the train task's XCom |
| `retrain_<model>` | validate | GX result | `html_path` in the validate XCom; a failed validation has no XCom, so the path follows from the extract XCom's window |
| `monitor_<model>` | data_drift, report | Evidently report | `report_html` in the task's XCom |
| `monitor_<model>` | report | MLflow run | the monitoring run (`mlflow_run_id`) |

The links are global (TaskFlow tasks share one operator class) and return "" where they do not
apply, which the UI hides. The api-server calls them when a task instance is opened: at most one
XCom row read and a stat, never an exception. The Task SDK's `XCom.get_value` needs the task
supervisor's channel, which the api-server does not have (apache/airflow#59093), so the row is
read the way Airflow's own XComOperatorLink reads it; this assumes the default database XCom
backend.

MLflow links open `RETRAINING_MLFLOW_UI_URL` when it is set (needed when the tracking URI is a
name only the workers resolve, like `http://mlflow:5000` in compose), else the tracking URI when
it is http(s), else the MLflow UI `make mlflow` serves on the local store, http://localhost:5000.

Files (`/retraining-artifacts/<path under the artifact root>`): Airflow mounts plugin FastAPI apps
with `app.mount()`, which inherits none of the core API's authentication, so Airflow does not
authenticate them. This app does it itself with Airflow's `get_user` (the UI's session cookie or a
bearer token) and serves a file only to a user who may read the task instances of
`retrain_<model>` or `monitor_<model>`, the model being the first part of the path. It serves
only .html, .json and .png files that resolve (symlinks followed) to under the model's own folder
of the artifact root; anything else is a 404, and a path under a model the user may not read is a
403 whether or not the file exists. Evidently reports hold aggregate statistics, but GX results can hold a
few example values from rows. HTML is sent in a CSP sandbox, so a report's scripts run in an
opaque origin, away from the Airflow session. `RETRAINING_SERVE_ARTIFACTS=false` leaves the app
unmounted and the file links out.

Imports Airflow and FastAPI only: nothing heavy, as every Airflow component loads plugins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.responses import Response

from include.orchestration.ui_auth import current_user, may
from include.retraining.artifacts import (
    ARTIFACTS_URL_PREFIX,
    ArtifactPath,
    Root,
    artifact_href,
    artifact_path,
    relative_key,
)
from include.retraining.common import Settings, load_settings, mlflow_ui_base
from include.retraining.config import is_model_name

log = logging.getLogger(__name__)

ARTIFACTS_PREFIX = ARTIFACTS_URL_PREFIX
# What the route serves, by suffix, with the type it answers (read through the store: no file
# name for a library to guess it from).
SERVED_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".png": "image/png"}
SERVED_SUFFIXES = frozenset(SERVED_TYPES)
RETRAIN_PREFIX, MONITOR_PREFIX = "retrain_", "monitor_"


class TaskInstanceKeyLike(Protocol):
    dag_id: str
    task_id: str
    run_id: str
    map_index: int


def serving_enabled() -> bool:
    return bool(_settings().serve_artifacts)


def _settings() -> Settings:
    return load_settings()


def airflow_base_url() -> str:
    """The api-server's public base URL: AIRFLOW__API__BASE_URL, as in the alerts' links."""
    return str(_settings().airflow_base_url)


# URL building: pure functions.
def mlflow_run_url(tracking_uri: str, run_id: str | None, experiment_id: str | None, ui_url: str | None = None) -> str:
    """The MLflow UI page of a run; MLflow's `#/runs/<id>` redirects when the experiment is unknown."""
    if not run_id:
        return ""
    base = mlflow_ui_base(tracking_uri, ui_url)
    if experiment_id:
        return f"{base}/#/experiments/{quote(str(experiment_id), safe='')}/runs/{quote(run_id, safe='')}"
    return f"{base}/#/runs/{quote(run_id, safe='')}"


def servable_path(artifact_root: Root, candidate: Root) -> ArtifactPath | None:
    """The file if it may be served: under the root (a key below it, or a full path or URL under
    it; local paths after resolving links), with an allowed suffix."""
    text = str(candidate)
    if not text or "\x00" in text:
        return None
    full = text if "://" in text or Path(text).is_absolute() else f"{str(artifact_root).rstrip('/')}/{text}"
    key = relative_key(artifact_root, full)
    if key is None or Path(key).suffix.lower() not in SERVED_SUFFIXES:
        return None
    return artifact_path(artifact_root) / key


def artifact_url(path: str | None, artifact_root: Root, base_url: str) -> str:
    """The URL of a file on the artifact root through this plugin's endpoint, or "" if not servable."""
    if not path or servable_path(artifact_root, path) is None:
        return ""
    return artifact_href(artifact_root, path, base_url)


def failed_validation_html(artifact_root: Root, model: str, window: dict[str, str]) -> ArtifactPath:
    """Where validate writes its result for a window (the layout the retrain steps write to)."""
    from include.retraining.artifacts import validation_html
    from include.retraining.common import Window

    return validation_html(artifact_root, model, Window.from_dict(window))


# XCom: one row from the metadata database.
def _return_value(ti_key: TaskInstanceKeyLike, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    map_index = ti_key.map_index if task_id == ti_key.task_id else -1
    query = XComModel.get_many(
        run_id=ti_key.run_id, key="return_value", dag_ids=ti_key.dag_id, task_ids=task_id, map_indexes=map_index
    ).with_only_columns(XComModel.value)
    with create_session() as session:
        row = session.execute(query).first()
    value = XComModel.deserialize_value(row) if row else None
    return value if isinstance(value, dict) else None


class _RetrainingLink(BaseOperatorLink):
    """Dispatch on DAG and task id; a failure is logged and gives no link."""

    name = ""

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKeyLike) -> str:
        try:
            return self.url_for(ti_key) or ""
        except Exception:  # a broken link must never break the task instance page
            log.warning("link %r for %s: not available", self.name, ti_key, exc_info=True)
            return ""

    def url_for(self, ti_key: TaskInstanceKeyLike) -> str:
        raise NotImplementedError


class MlflowRunLink(_RetrainingLink):
    name = "MLflow run"

    def url_for(self, ti_key: TaskInstanceKeyLike) -> str:
        if ti_key.dag_id.startswith(RETRAIN_PREFIX) and ti_key.task_id in ("train", "evaluate"):
            trained = _return_value(ti_key, "train") or {}
            run_id, experiment_id = trained.get("run_id"), trained.get("experiment_id")
        elif ti_key.dag_id.startswith(MONITOR_PREFIX) and ti_key.task_id == "report":
            run_id, experiment_id = (_return_value(ti_key, "report") or {}).get("mlflow_run_id"), None
        else:
            return ""
        settings = _settings()
        return mlflow_run_url(settings.tracking_uri, run_id, experiment_id, settings.mlflow_ui_url)


class GxResultLink(_RetrainingLink):
    name = "GX result"

    def url_for(self, ti_key: TaskInstanceKeyLike) -> str:
        if not (ti_key.dag_id.startswith(RETRAIN_PREFIX) and ti_key.task_id == "validate" and serving_enabled()):
            return ""
        settings = _settings()
        path = (_return_value(ti_key, "validate") or {}).get("html_path")
        if not path:
            window = (_return_value(ti_key, "extract") or {}).get("window")
            derived = window and failed_validation_html(
                settings.artifact_root, ti_key.dag_id.removeprefix(RETRAIN_PREFIX), window
            )
            path = str(derived) if derived and derived.is_file() else None
        return artifact_url(path, settings.artifact_root, airflow_base_url())


class EvidentlyReportLink(_RetrainingLink):
    name = "Evidently report"

    def url_for(self, ti_key: TaskInstanceKeyLike) -> str:
        applies = ti_key.dag_id.startswith(MONITOR_PREFIX) and ti_key.task_id in ("data_drift", "report")
        if not (applies and serving_enabled()):
            return ""
        path = (_return_value(ti_key, ti_key.task_id) or {}).get("report_html")
        return artifact_url(path, _settings().artifact_root, airflow_base_url())


# The file endpoint.
def model_access(user: Annotated[Any, Depends(current_user)]) -> Callable[[str], bool]:
    """Whether the user may read task instances of the model's DAGs."""

    def may_read(model: str) -> bool:
        dag_ids = (f"{RETRAIN_PREFIX}{model}", f"{MONITOR_PREFIX}{model}")
        return any(may(user, dag_id, "GET", "TASK_INSTANCE") for dag_id in dag_ids)

    return may_read


def _requested_model(relative_path: str) -> str | None:
    """The model a request names (its first path segment), or None for a path that names none
    plainly: not a model name (compose keeps `.data/` under the root), absolute, climbing (`..`),
    or holding a NUL byte (which `Path.resolve` cannot take)."""
    parts = relative_path.split("/")
    if "\x00" in relative_path or ".." in parts or not is_model_name(parts[0]):
        return None
    return parts[0]


def _artifact_root() -> Root:
    return _settings().artifact_root


def create_artifact_app(artifact_root: Callable[[], Root] = _artifact_root) -> FastAPI:
    app = FastAPI(title="Retraining artifacts", docs_url=None, redoc_url=None, openapi_url=None)

    @app.api_route("/{relative_path:path}", methods=["GET", "HEAD"])
    def artifact(relative_path: str, may_read: Annotated[Callable[[str], bool], Depends(model_access)]) -> Response:
        # Access first, from the path as asked: a 404 before the 403 would tell a user who may not
        # read a model which of its files exist. The resolved file must then belong to the same model.
        model = _requested_model(relative_path)
        if model is not None and not may_read(model):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "no access to this model's runs")
        # Read through the artifact store, so a report in object storage serves like a local one.
        root = artifact_root()
        path = servable_path(root, relative_path) if model is not None else None
        if path is None or relative_key(root, path).split("/")[0] != model or not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such artifact")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        suffix = path.suffix.lower()
        if suffix == ".html":
            headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups allow-downloads"
        return Response(path.read_bytes(), media_type=SERVED_TYPES[suffix], headers=headers)

    return app


class RetrainingLinksPlugin(AirflowPlugin):
    name = "retraining_links"
    global_operator_extra_links = [MlflowRunLink(), GxResultLink(), EvidentlyReportLink()]
    fastapi_apps = (
        [{"app": create_artifact_app(), "url_prefix": ARTIFACTS_PREFIX, "name": "Retraining artifacts"}]
        if serving_enabled()
        else []
    )
