"""What a task needs from Airflow at run time: the warehouse its model reads (from an Airflow
connection), who is running, and the one builder of every task's step context."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from include.retraining.common import Settings, as_utc
from include.retraining.config import ModelConfig
from include.retraining.runs import RunInfo, StepContext

if TYPE_CHECKING:
    from include.retraining.warehouse import Database, Warehouse

_D = TypeVar("_D", bound="Database")

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE_CONN_ID = "warehouse"
# The database of the pipeline's own tables, when it is not the source's (`pipeline_database`).
PIPELINE_DB_CONN_ID = "retraining_db"
# The libpq connection parameters a postgres connection's extra may carry (TLS above all); they go
# into the URL's query, which psycopg2 and ADBC hand to libpq. Airflow's own extras (`cursor`,
# `iam`, ...) are not libpq's and stay out.
LIBPQ_EXTRAS = frozenset(
    {
        "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword", "sslcompression",
        "gssencmode", "application_name", "connect_timeout", "target_session_attrs",
        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "channel_binding",
    }
)  # fmt: skip


def source_warehouse(conn_id: str, settings: Settings) -> Warehouse:
    """The warehouse behind an Airflow connection, its password registered with the log masker."""
    from include.retraining.warehouse import Warehouse

    return _masked(Warehouse(warehouse_url(conn_id, settings)))


def pipeline_database(source: Warehouse, settings: Settings) -> Database:
    """The database of the pipeline's own tables (monitoring, promotion log, predictions), so the
    source can stay read-only: the Airflow connection `retraining_db` when it exists; beside the
    embedded warehouse, `.data/pipeline.db`; else the source's own database, with a warning, as
    before the connection existed (the source's account then needs CREATE and write rights)."""
    from include.retraining.warehouse import Database

    url = connection_url(PIPELINE_DB_CONN_ID)
    if url is not None:
        return _masked(Database(url))
    if source.same_database(Database(settings.warehouse_default_url)):
        return _embedded_pipeline_database(source, settings)
    if source.is_duckdb:
        # A DuckDB file is written by one process at a time, and only while no other reads it.
        raise ValueError(
            f"the DuckDB source {source.display} cannot also hold the pipeline's own tables (model_monitoring, "
            f"model_promotions, <model>_predictions): define the Airflow connection {PIPELINE_DB_CONN_ID!r} "
            f"(AIRFLOW_CONN_{PIPELINE_DB_CONN_ID.upper()}, e.g. sqlite:////path/pipeline.db or a PostgreSQL database)"
        )
    log.warning(
        "no Airflow connection %r: the pipeline writes its own tables (model_monitoring, model_promotions, "
        "<model>_predictions) into the source warehouse %s; define the connection %r to keep the source "
        "read-only (docs/deployment.md)",
        PIPELINE_DB_CONN_ID,
        source.display,
        PIPELINE_DB_CONN_ID,
    )
    return source


def alerts_database(settings: Settings) -> Database:
    """The database of the alert outbox: the Airflow connection `retraining_db` when it exists,
    else the embedded `.data/pipeline.db`. Never the source (alerts are raised where no source is
    known: a failure callback, the UI), so every worker of a deployment with `retraining_db`
    shares one outbox."""
    from include.retraining.warehouse import Database

    url = connection_url(PIPELINE_DB_CONN_ID)
    return _masked(Database(url)) if url is not None else Database(settings.pipeline_default_url)


def _embedded_pipeline_database(source: Warehouse, settings: Settings) -> Database:
    """`.data/pipeline.db`; but an embedded setup whose warehouse already holds the pipeline's
    history (from before the file existed) keeps it there: its promotion log and monitoring rows
    drive the cooldown, the loop guard and rollback, and must not start over empty."""
    from include.retraining.tables import MONITORING_TABLE, PROMOTIONS_TABLE
    from include.retraining.warehouse import Database

    pipeline = Database(settings.pipeline_default_url)
    history = (PROMOTIONS_TABLE, MONITORING_TABLE)
    if any(pipeline.has_table(t) for t in history) or not any(source.has_table(t) for t in history):
        return pipeline
    log.warning(
        "the embedded warehouse %s holds the pipeline's tables from before %s existed: they stay there",
        source.display,
        pipeline.display,
    )
    return source


def _masked(database: _D) -> _D:
    if database.password:
        from airflow.sdk.log import mask_secret

        mask_secret(database.password)
    return database


def warehouse_url(conn_id: str, settings: Settings) -> str:
    """The SQLAlchemy URL of a source's Airflow connection (`connection_url`); with no
    connection at all, the default id falls back to the embedded SQLite warehouse."""
    url = connection_url(conn_id)
    if url is not None:
        return url
    if conn_id == DEFAULT_WAREHOUSE_CONN_ID:
        return settings.warehouse_default_url
    from airflow.sdk.exceptions import AirflowNotFoundException

    raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")


def connection_url(conn_id: str) -> str | None:
    """The SQLAlchemy URL of an Airflow connection; None when no such connection exists.

    `AIRFLOW_CONN_<ID>` holding a SQLAlchemy URL is used verbatim (drivers and all); a
    connection in Airflow's own forms (JSON, or a `postgres://` URI as Airflow writes them), from
    the UI or from a secrets backend is turned into one, its login and password escaped and its
    libpq extras kept.
    """
    raw = (os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}") or "").strip()
    if raw and not raw.startswith(("{", "postgres://")):
        return raw
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    extra = conn.extra_dejson
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type in ("postgres", "postgresql"):
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=(conn.password or None) if conn.login else None,
            host=conn.host or "localhost",
            port=conn.port or 5432,
            database=conn.schema or None,
            query={key: str(value) for key, value in extra.items() if key in LIBPQ_EXTRAS},
        )
        return url.render_as_string(hide_password=False)
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    raise ValueError(
        f"connection {conn_id!r} of type {conn.conn_type!r}: set extra sqlalchemy_url to its SQLAlchemy URL"
    )


def _param_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _window_end_param(params: dict[str, Any], dag_run: Any, config: ModelConfig) -> datetime | None:
    """The `window_end` param; one after the run was triggered is refused (its labels do not exist yet)."""
    value = _param_datetime(params.get("window_end"))
    _refuse_future(
        value,
        dag_run,
        f"model {config.name!r}: param window_end",
        "Leave window_end empty (the run's data interval) or give a time in the past.",
    )
    return value


def _drift_window_end(drift: dict[str, Any], dag_run: Any, config: ModelConfig) -> datetime | None:
    """The `window_end` of the drift event that triggered the run, checked as the param is: an
    event can be posted by anyone with the REST API, not only by monitor_<model>. An old window is
    not refused: it is a retrain of a past window, as the param allows, and a window without rows
    stops at extract (training.min_rows)."""
    what = f"model {config.name!r}: the drift event's window_end"
    fix = (
        f"A drift event names a window that has ended, as monitor_{config.name} posts it; post the event again "
        "with a past window_end in its extra (ISO 8601), or trigger the retrain with the window_end param."
    )
    try:
        value = _param_datetime(drift.get("window_end"))
    except ValueError:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{what} is not a time (ISO 8601 expected). {fix}") from None
    _refuse_future(value, dag_run, what, fix)
    return value


def _refuse_future(value: datetime | None, dag_run: Any, what: str, fix: str) -> None:
    if value is not None and dag_run.run_after is not None and value > as_utc(dag_run.run_after):
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"{what} {value.isoformat()} is after this run was triggered "
            f"({as_utc(dag_run.run_after).isoformat()}); a window that has not ended has no matured labels. {fix}"
        )


def triggering_drift(context: Any) -> dict[str, Any] | None:
    """The extra of the newest drift event that triggered this run, if an event did."""
    events = context.get("triggering_asset_events") or {}
    newest = None
    for asset_events in events.values():
        for event in asset_events:
            if newest is None or event.timestamp > newest.timestamp:
                newest = event
    return dict(newest.extra or {}) if newest is not None else None


def run_info(context: Any, config: ModelConfig) -> RunInfo:
    """The run's identity and the end of its window: an explicit param, the drift event's window,
    the data interval, in that order; never the wall clock."""
    params = context.get("params") or {}
    dag_run = context["dag_run"]
    drift = triggering_drift(context)
    window_end = (
        _window_end_param(params, dag_run, config)
        or (_drift_window_end(drift, dag_run, config) if drift else None)
        or context.get("data_interval_end")
        or dag_run.run_after
    )
    if drift:
        trigger = f"drift: {drift.get('reason', 'drift event')}"
    else:
        trigger = str(getattr(dag_run, "run_type", "scheduled"))
    return RunInfo(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        window_end=as_utc(window_end),
        trigger=trigger,
        dry_run=bool(params.get("dry_run", False)),
        actor=_actor(dag_run),
    )


def triggering_user(dag_run: Any) -> str | None:
    """The Airflow user who triggered a manual run; None for scheduled and asset-triggered runs."""
    user = getattr(dag_run, "triggering_user_name", None)
    manual = str(getattr(dag_run, "run_type", "")) in ("manual", "DagRunType.MANUAL")
    return str(user) if manual and user else None


def _actor(dag_run: Any) -> str:
    """The Airflow user who triggered a manual run; `scheduler` for every other run."""
    return triggering_user(dag_run) or "scheduler"


def step_context(config: ModelConfig, *, warehouse: bool = False, run: RunInfo | None = None) -> StepContext:
    """The context of the running task, the one builder for every DAG kind: settings, the run's
    identity (`run_info`, unless the caller decided it) and, for the steps that read it, the
    warehouse (an Airflow connection lookup) and the database of the pipeline's own tables."""
    from airflow.sdk import get_current_context

    from include.retraining.common import load_settings

    # A task forked from a preloading worker starts 5-15 s sooner; say which this one was.
    preloaded = "include.orchestration.worker_preload" in sys.modules
    log.info("libraries preloaded by the worker: %s", "yes" if preloaded else "no (see worker_preload.py)")
    settings = load_settings()
    run = run or run_info(get_current_context(), config)
    if not warehouse:
        return StepContext.create(config, settings, run)
    from include.retraining.tables import upgrade_schema

    source = source_warehouse(config.source.conn_id, settings)
    pipeline_db = pipeline_database(source, settings)
    upgrade_schema(pipeline_db)  # a new release's first run brings the pipeline's tables up to date
    return StepContext.create(config, settings, run, source, pipeline_db)
