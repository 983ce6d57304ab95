"""`retrain_<model>`: one retraining DAG per model file in include/models/.

Wiring only: each task imports its step from `include.retraining` at run time, calls it and
returns a small reference (a snapshot path, an MLflow run id) for the next task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from include.orchestration.assets import champion_asset, drift_asset
from include.orchestration.dagfiles import (
    START_DATE,
    broken_model_files_dag,
    dagrun_timeout,
    default_args,
    model_configs,
    train_task_placement,
    window_end_param,
)
from include.retraining.config import ModelConfig

DOC = """
### Retrain `{name}`

Runs weekly (`{schedule}` UTC) and whenever `monitor_{name}` emits a drift event on asset
`{name}_drift`. The window is `(end - {window_days}d, end - {label_delay_days}d]`, where `end` is
the run's data interval end, the drift event's window or the `window_end` param.

| task | what it does | when it fails or stops |
|---|---|---|
| extract | reads the window from connection `{conn_id}` into a Parquet snapshot named by its content hash | too few rows: check the upstream load; connection errors retry with backoff |
| validate | Great Expectations suite from the model file plus what the champion's data looked like | a Slack alert lists the failed expectations and links the result; fix the data, then clear this task |
| train | scikit-learn pipeline (features inside the model), logged to MLflow experiment `{name}` | a rerun of the same snapshot reuses the finished run |
| evaluate | challenger and `champion` on the same holdout, one-sided paired interval of the difference in `{metric}` | |
| promote | moves alias `champion` when the gate passes (a row in `model_promotions` first, then the alias; event `{name}_champion`); otherwise alias `challenger`, an alert, and this task is skipped | skipped = the gate said no; the reason is in the log and the alert |

{approval}Trigger with **dry_run** to do everything but change the registry.
"""

APPROVAL_DOC = """**Approval required**: a challenger that passed the gate waits in task `approve` for a person
(Browse > Required Actions, or the task's Required Actions tab) for up to {hours:g} h. Approve
promotes; Reject or no answer leaves it `challenger` and alerts. Every answer is in the
promotion log (`model_promotions`).

"""


def _doc(config: ModelConfig) -> str:
    return DOC.format(
        name=config.name,
        schedule=config.schedule,
        window_days=config.training.window_days,
        label_delay_days=config.training.label_delay_days,
        conn_id=config.source.conn_id,
        metric=config.primary_metric,
        approval=APPROVAL_DOC.format(hours=config.gate.approval_timeout) if config.gate.requires_approval else "",
    )


def _schedule(config: ModelConfig) -> AssetOrTimeSchedule:
    """Weekly (the model's cron) and whenever monitor_<model> emits a drift event."""
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(config.schedule, timezone="UTC"), assets=drift_asset(config.name)
    )


def _run_timeout(config: ModelConfig) -> timedelta:
    """A run that waits for an approval may last that much longer."""
    waits = config.gate.requires_approval
    return dagrun_timeout() + (timedelta(hours=config.gate.approval_timeout) if waits else timedelta(0))


def _dag_arguments(config: ModelConfig) -> dict[str, Any]:
    """Limits, docs and params of one model's retrain DAG."""
    return {
        "dag_id": config.retrain_dag_id,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": _run_timeout(config),
        "doc_md": _doc(config),
        "tags": ["retraining", f"model:{config.name}", *config.tags],
        "default_args": default_args(config),
        "params": {
            "dry_run": Param(False, type="boolean", description="Everything but the promotion."),
            "window_end": window_end_param("training"),
        },
    }


def build_retrain_dag(config: ModelConfig) -> DAG:
    @dag(schedule=_schedule(config), **_dag_arguments(config))
    def retrain() -> None:
        @task(multiple_outputs=False, doc_md="Read the training window into a content-addressed Parquet snapshot.")
        def extract() -> dict:
            from include.orchestration import retrain_tasks

            return retrain_tasks.extract(config)

        @task(
            multiple_outputs=False,
            doc_md="Great Expectations gate: a failed suite alerts and stops the run (no retry).",
        )
        def validate(extracted: dict) -> dict:
            from include.orchestration import retrain_tasks

            return retrain_tasks.validate(config, extracted)

        @task(
            multiple_outputs=False,
            doc_md="Fit the pipeline and log run, model, dataset and config to MLflow.",
            **train_task_placement(),  # a big-memory queue or pod, when the deployment names one
        )
        def train(extracted: dict) -> dict:
            from include.orchestration import retrain_tasks

            return retrain_tasks.train(config, extracted)

        @task(
            multiple_outputs=False,
            doc_md="Challenger vs champion on the same holdout, with a one-sided paired interval.",
        )
        def evaluate(extracted: dict, trained: dict) -> dict:
            from include.orchestration import retrain_tasks

            return retrain_tasks.evaluate(config, extracted, trained)

        @task(
            multiple_outputs=False,
            doc_md="Move alias `champion` (log row first), or mark `challenger`, alert and skip.",
            outlets=[champion_asset(config.name)],  # emitted only when the task succeeds: the alias moved
        )
        def promote(extracted: dict, trained: dict, evaluated: dict, answer: dict | None = None) -> dict:
            from include.orchestration import retrain_tasks

            return retrain_tasks.promote(config, extracted, trained, evaluated, answer)

        extracted = extract()
        validated = validate(extracted)
        trained = train(extracted)
        validated >> trained
        evaluated = evaluate(extracted, trained)
        if config.gate.requires_approval:
            from include.orchestration.approval import approval_task

            approve = approval_task(config, extracted, trained, evaluated)
            promote(extracted, trained, evaluated, approve.output)
        else:
            promote(extracted, trained, evaluated)

    return retrain()


configs, errors = model_configs()
for _config in configs:
    globals()[_config.retrain_dag_id] = build_retrain_dag(_config)
if errors:
    broken_model_files = broken_model_files_dag(errors)  # the one report, for all four DAG files
