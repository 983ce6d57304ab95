"""The inference log's wiring: where the server writes its answers and how often.

Every answer to /invocations goes to the model's predictions table in the pipeline database as
`source = 'rest'` rows (include/retraining/inference: the rows and the batching writer). It is on
when the model file says `serving.inference_log: true` (the default); SERVING_INFERENCE_LOG=off|on
overrides the file. The database: SERVING_INFERENCE_LOG_DB (a SQLAlchemy URL; compose sets it to
the pipeline's `retraining` database), else AIRFLOW_CONN_RETRAINING_DB when it holds a SQLAlchemy
URL (one environment shared with the workers), else the embedded `.data/pipeline.db`, where the
pipeline's own tables live by default. The batching: SERVING_INFERENCE_LOG_FLUSH_MS (a write every
200 ms), SERVING_INFERENCE_LOG_BATCH_ROWS (or as soon as 5,000 rows wait) and
SERVING_INFERENCE_LOG_MAX_ROWS (100,000 rows queued at most; more are dropped and counted);
SERVING_INFERENCE_LOG_CLOSE_SECONDS (10: how long a shutdown may spend writing what is queued).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

from include.retraining.common import Settings
from include.retraining.config import ModelConfig
from include.retraining.inference import InferenceLog, PredictionAppender, answer_rows
from include.retraining.warehouse import Database

SWITCH, DATABASE = "SERVING_INFERENCE_LOG", "SERVING_INFERENCE_LOG_DB"
PIPELINE_CONNECTION = "AIRFLOW_CONN_RETRAINING_DB"
_ON, _OFF = ("1", "true", "on", "yes"), ("0", "false", "off", "no")

log = logging.getLogger(__name__)


def log_enabled(config: ModelConfig, env: Mapping[str, str]) -> bool:
    switch = (env.get(SWITCH) or "").strip().lower()
    if switch and switch not in _ON + _OFF:
        raise ValueError(f"{SWITCH}={env[SWITCH]!r}: use on or off (unset: the model file's serving.inference_log)")
    return switch in _ON if switch else config.serving.inference_log


def log_database_url(settings: Settings, env: Mapping[str, str]) -> str:
    url = (env.get(DATABASE) or "").strip()
    if url:
        return url
    shared = (env.get(PIPELINE_CONNECTION) or "").strip()
    if shared and not shared.startswith(("{", "postgres://")):  # Airflow's own forms need Airflow to read
        return shared
    return settings.pipeline_default_url


def open_inference_log(settings: Settings, config: ModelConfig, env: Mapping[str, str]) -> InferenceLog | None:
    """The model's inference log, not started; None when it is off."""
    if not log_enabled(config, env):
        log.info("inference log off for model %s: REST answers are not written anywhere", config.name)
        return None
    db = Database(log_database_url(settings, env))
    appender = PredictionAppender(db, config.predictions_table)
    shape = partial(
        answer_rows,
        features=list(config.features.columns),
        id_column=config.source.id_column,
        timestamp_column=config.source.timestamp_column,
    )
    writer = InferenceLog(
        appender.append,
        shape,
        capacity=int(env.get("SERVING_INFERENCE_LOG_MAX_ROWS", 100_000)),
        batch_rows=int(env.get("SERVING_INFERENCE_LOG_BATCH_ROWS", 5_000)),
        flush_seconds=float(env.get("SERVING_INFERENCE_LOG_FLUSH_MS", 200)) / 1000,
        release=appender.close,
        close_seconds=float(env.get("SERVING_INFERENCE_LOG_CLOSE_SECONDS", 10)),
    )
    log.info("inference log of model %s: table %s in %s", config.name, config.predictions_table, db.display)
    return writer
