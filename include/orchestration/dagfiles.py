"""Reading the model files at parse time, and surfacing a bad one as an import error.

Parsing YAML with pydantic is cheap; nothing here touches a database or the network.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param

from include.orchestration.alerting import FailureAlert, flush_alerts
from include.retraining.common import load_settings
from include.retraining.config import ModelConfig, ModelConfigError, load_model_configs


def model_configs() -> tuple[list[ModelConfig], dict[Path, ModelConfigError]]:
    return load_model_configs(load_settings().models_dir)


# A very early start and no catchup: the scheduler only ever schedules the latest interval, and a
# manual run for any logical date gets its tasks (a logical date before `start_date` would create
# none and report success). Past windows still go through the `window_end` param.
# `RETRAINING_DAG_START_DATE` (an ISO date) moves it: the demo, whose cron must never fire on the
# real clock, starts its DAGs on the day it runs.
START_DATE = pendulum.parse(os.environ.get("RETRAINING_DAG_START_DATE", "2000-01-01"), tz="UTC")


def default_args(config: ModelConfig) -> dict:
    """Owner from the model file; I/O retried with exponential backoff and bounded in time; every
    final failure alerts (gates that already alerted excepted); every success posts the alerts
    that Slack did not take earlier."""
    settings = load_settings()
    return {
        "owner": config.owner,
        "retries": settings.task_retries,
        "retry_delay": settings.task_retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": settings.task_timeout,
        "on_failure_callback": FailureAlert(config.name, config.alerts.slack_conn_id),
        "on_success_callback": flush_alerts,
    }


# Where `train` runs, when it needs more memory than the other tasks: a Celery queue that only
# big-memory workers listen on, and/or another executor of Airflow's multiple executors (e.g.
# `KubernetesExecutor` beside the default `CeleryExecutor`) with a pod template sized for it.
# Plain strings read while parsing: nothing here imports the Kubernetes client.
TRAIN_QUEUE_VARIABLE = "RETRAINING_TRAIN_QUEUE"
TRAIN_EXECUTOR_VARIABLE = "RETRAINING_TRAIN_EXECUTOR"
TRAIN_POD_TEMPLATE_VARIABLE = "RETRAINING_TRAIN_POD_TEMPLATE"


def train_task_placement() -> dict[str, Any]:
    """The `queue`, `executor` and `executor_config` of the `train` task, from the environment;
    none set leaves the task where every other task runs. A pod template without an executor that
    reads it would be ignored in silence (train then runs on a small worker), so it is refused."""
    queue, executor, template = (
        os.environ.get(name, "").strip()
        for name in (TRAIN_QUEUE_VARIABLE, TRAIN_EXECUTOR_VARIABLE, TRAIN_POD_TEMPLATE_VARIABLE)
    )
    placement: dict[str, Any] = {}
    if queue:
        placement["queue"] = queue
    if executor:
        placement["executor"] = executor
    if template:
        if not executor:
            raise ValueError(
                f"{TRAIN_POD_TEMPLATE_VARIABLE}={template!r} needs {TRAIN_EXECUTOR_VARIABLE} naming the executor "
                f"that reads pod templates (e.g. KubernetesExecutor, listed in AIRFLOW__CORE__EXECUTOR); "
                f"set it, or unset {TRAIN_POD_TEMPLATE_VARIABLE} (docs/kubernetes.md)"
            )
        if not os.path.isabs(template):
            raise ValueError(
                f"{TRAIN_POD_TEMPLATE_VARIABLE}={template!r} must be an absolute path on the scheduler, where "
                f"the KubernetesExecutor reads it (docs/kubernetes.md)"
            )
        placement["executor_config"] = {"pod_template_file": template}
    return placement


def dagrun_timeout() -> timedelta:
    """A hung run must not hold the model's only run slot (max_active_runs=1) forever."""
    return load_settings().dagrun_timeout


def window_end_param(what: str) -> Param:
    """A manual run's explicit window end; empty means the run's data interval end."""
    return Param(
        None,
        type=["null", "string"],
        format="date-time",
        description=f"End of the {what} window (UTC). Empty: the run's data interval end.",
    )


class _BrokenModelFiles(DAG):
    """A DAG that refuses to be bagged: Airflow records its message as the file's import error,
    while the good models' DAGs in the same file load as usual."""

    def validate(self) -> None:
        raise ModelConfigError(self.description)


def broken_model_files_dag(errors: dict[Path, ModelConfigError]) -> DAG:
    """The one import error for the model files that do not load, in dags/retrain.py: the other DAG
    files leave those models out silently, so the UI lists each problem once, not once per file."""
    message = "\n".join(str(error) for error in errors.values())
    names = "_".join(re.sub(r"[^A-Za-z0-9_]", "_", path.stem) for path in errors)
    return _BrokenModelFiles(
        dag_id=f"invalid_model_files_{names}"[:200],
        description=(
            f"{len(errors)} model file(s) could not be loaded, so none of their DAGs (retrain_, monitor_, score_ "
            f"and rollback_<name>) exists until it is fixed; `python -m retraining check FILE` checks a fix:\n{message}"
        ),
        schedule=None,
        start_date=START_DATE,
    )
