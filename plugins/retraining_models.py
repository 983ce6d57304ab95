"""The Models page: a view in the Airflow UI's navigation (Browse > Models) with one row per model
file: the champion and since when (promotion log), the latest gate and drift decisions, the live
metric on matured labels as a small chart, links to MLflow and the latest Evidently and GX
reports, and a Roll back button.

The page is served by this plugin's FastAPI app at `/retraining-models/` and shown in the UI as
an external view (an iframe on the same origin). Airflow does not authenticate plugin apps, so the
app does (`include/orchestration/ui_auth.py`): a logged-in user sees the models whose retrain or
monitor DAGs they may read, and the Roll back form only for models whose `rollback_<model>` DAG
they may trigger. The form calls Airflow's own REST API (`POST /api/v2/dags/rollback_<model>/dagRuns`)
with the browser's session, so Airflow checks the permission again and the run is the user's.

The data is read when the page is requested (registry, warehouse, artifact root); nothing is read
at import, as every Airflow component loads plugins.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from include.orchestration.ui_auth import current_user, may, user_name

log = logging.getLogger(__name__)

MODELS_PREFIX = "/retraining-models"
# The page holds a Roll back button: only the Airflow UI's own origin may frame it (clickjacking),
# whatever the deployment's cookie SameSite setting.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
}


def _readable(user: Any, config: Any) -> bool:
    return any(may(user, dag_id, "GET", "RUN") for dag_id in (config.retrain_dag_id, config.monitor_dag_id))


def _overviews(user: Any) -> tuple[list[Any], dict[str, bool]]:
    from include.orchestration.runtime import pipeline_database, source_warehouse
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_configs
    from include.retraining.overview import ModelOverview, overview
    from include.retraining.tracking import Registry, Tracker

    settings = load_settings()
    configs, _errors = load_model_configs(settings.models_dir)
    rows, allowed = [], {}
    tracker = Tracker(settings, trusted_types=())  # the page loads no model
    for config in (c for c in configs if _readable(user, c)):
        try:
            db = pipeline_database(source_warehouse(config.source.conn_id, settings), settings)
        except Exception as exc:  # noqa: BLE001 - shown on the row
            row = ModelOverview(config.name, config.primary_metric, config.rollback_dag_id)
            row.errors.append(f"warehouse connection {config.source.conn_id!r}: {exc}")
        else:
            row = overview(config, settings, db, Registry(tracker, config.name))
        rows.append(row)
        allowed[config.name] = may(user, config.rollback_dag_id, "POST", "RUN")
    return rows, allowed


def create_models_app() -> FastAPI:
    app = FastAPI(title="Models", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def models_page(user: Annotated[Any, Depends(current_user)]) -> HTMLResponse:
        from include.orchestration.models_page import render

        rows, allowed = _overviews(user)
        return HTMLResponse(render(rows, allowed, user_name(user)), headers=PAGE_HEADERS)

    return app


class RetrainingModelsPlugin(AirflowPlugin):
    name = "retraining_models"
    fastapi_apps = [{"app": create_models_app(), "url_prefix": MODELS_PREFIX, "name": "Retraining models"}]
    external_views = [
        {
            "name": "Models",
            "href": f"{MODELS_PREFIX}/",
            "url_route": "models",
            "destination": "nav",
            "category": "browse",
        }
    ]
