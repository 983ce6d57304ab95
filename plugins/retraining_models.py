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

`/retraining-models/metrics` is the same data in Prometheus' text format
(`include/retraining/overview/metrics.py`), for a scraper holding `RETRAINING_METRICS_TOKEN` as a
bearer token (every model), or an Airflow user (the models they may read).

The data is read when the page is requested (registry, warehouse, artifact root); nothing is read
at import, as every Airflow component loads plugins.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path
from typing import Annotated, Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from include.orchestration.ui_auth import current_user, may, user_name

log = logging.getLogger(__name__)

MODELS_PREFIX = "/retraining-models"
METRICS_TOKEN_ENV = "RETRAINING_METRICS_TOKEN"
SCRAPER = object()  # the Prometheus scraper, authenticated by its own token
_bearer = HTTPBearer(auto_error=False)
# The page holds a Roll back button: only the Airflow UI's own origin may frame it (clickjacking),
# whatever the deployment's cookie SameSite setting.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
}


def _readable(user: Any, config: Any) -> bool:
    return any(may(user, dag_id, "GET", "RUN") for dag_id in (config.retrain_dag_id, config.monitor_dag_id))


def _rows(settings: Any, configs: list[Any]) -> list[Any]:
    from include.orchestration.runtime import pipeline_database, source_warehouse
    from include.retraining.overview import ModelOverview, overview
    from include.retraining.tracking import Registry, Tracker

    rows = []
    tracker = Tracker(settings, trusted_types=())  # neither the page nor a scrape loads a model
    for config in configs:
        try:
            db = pipeline_database(source_warehouse(config.source.conn_id, settings), settings)
        except Exception as exc:  # noqa: BLE001 - shown on the row
            row = ModelOverview(config.name, config.primary_metric, config.rollback_dag_id)
            row.errors.append(f"warehouse connection {config.source.conn_id!r}: {exc}")
        else:
            row = overview(config, settings, db, Registry(tracker, config.name))
        rows.append(row)
    return rows


def _overviews(user: Any) -> tuple[list[Any], dict[str, bool]]:
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_configs

    settings = load_settings()
    configs, _errors = load_model_configs(settings.models_dir)
    rows = _rows(settings, [c for c in configs if _readable(user, c)])
    allowed = {row.name: may(user, row.rollback_dag_id, "POST", "RUN") for row in rows}
    return rows, allowed


def _metrics_token() -> str | None:
    """The scraper's token: `RETRAINING_METRICS_TOKEN`, or the first line of the file named by
    `RETRAINING_METRICS_TOKEN_FILE` (a mounted secret). Read per scrape, so a rotation needs no restart."""
    if token := os.environ.get(METRICS_TOKEN_ENV, "").strip():
        return token
    if path := os.environ.get(f"{METRICS_TOKEN_ENV}_FILE", "").strip():
        try:
            return Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip() or None
        except (OSError, IndexError):
            log.error("%s_FILE=%s cannot be read: the metrics accept Airflow users only", METRICS_TOKEN_ENV, path)
    return None


async def metrics_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The scraper (its static token: every model), else an Airflow user (the models they may read)."""
    token = _metrics_token()
    if token and credentials is not None and hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        return SCRAPER
    return await current_user(request, credentials)


def _metrics(reader: Any) -> str:
    from include.orchestration.alerting import alert_outbox
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_configs
    from include.retraining.overview import exposition

    settings = load_settings()
    configs, errors = load_model_configs(settings.models_dir)
    readable = configs if reader is SCRAPER else [c for c in configs if _readable(reader, c)]
    rows = _rows(settings, readable)
    try:
        alerts: dict[str, int] | None = alert_outbox(settings).counts()
        alerts_error = None
    except Exception as exc:  # noqa: BLE001 - exported as a read error, never as an empty outbox
        alerts, alerts_error = None, f"{type(exc).__name__}: {exc}"
        log.warning("metrics: the alert outbox cannot be read: %s", alerts_error)
    return exposition(rows, file_errors=len(errors), alerts=alerts, alerts_error=alerts_error)


def create_models_app() -> FastAPI:
    app = FastAPI(title="Models", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def models_page(user: Annotated[Any, Depends(current_user)]) -> HTMLResponse:
        from include.orchestration.models_page import render

        rows, allowed = _overviews(user)
        return HTMLResponse(render(rows, allowed, user_name(user)), headers=PAGE_HEADERS)

    @app.get("/metrics")
    def metrics(reader: Annotated[Any, Depends(metrics_reader)]) -> Response:
        from include.retraining.overview import CONTENT_TYPE

        return Response(_metrics(reader), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

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
