"""The Celery workers' configuration: Airflow's default, and the worker preload.

`[celery] celery_config_options = include.orchestration.celery_config.CELERY_CONFIG`. Celery
imports the modules of `imports` in the worker's main process before it forks its pool, so every
task process forked from the pool starts with the libraries of `worker_preload` already loaded.
The scheduler and API server import this module too (they build the same Celery app) but never
import `imports`: the preload costs only the workers.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), "include.orchestration.worker_preload"),
}
