"""`rollback_<model>`: move alias `champion` back to an earlier version, by hand, from the Trigger form.

Wiring only: the task imports its body at run time.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, dag, task

from include.orchestration.assets import champion_asset
from include.orchestration.dagfiles import (
    START_DATE,
    dagrun_timeout,
    default_args,
    model_configs,
)
from include.retraining.config import ModelConfig

DOC = """
### Roll back `{name}`

Manual only: **Trigger** with a `reason` (required) and, optionally, `to_version` (default: the
version behind alias `previous_champion`, i.e. the champion before the last move).

The task checks that the version exists in registered model `{name}`, was trained for `{name}`,
is not already the champion, was champion before through the gate (not a version the gate
blocked, an approver rejected, or one never promoted), and loads; then it writes a row to the
promotion log (`model_promotions`, action `rollback`, you as the actor), moves `champion` (the
replaced version becomes `previous_champion`), emits `{name}_champion` and sends an alert. A
refused rollback fails with the reason and moves nothing.

**force** (default off) moves even to a version the gate blocked, an approver rejected or that
was never champion: the gate is bypassed, so the row's action is `forced_rollback` and the alert
says what was overridden. The other checks still apply.

If a move recorded in the promotion log but lost before its alias moved is completed first, the
rollback moves nothing more (unless that move landed on the version you asked for) and says so.
"""


def build_rollback_dag(config: ModelConfig) -> DAG:
    @dag(
        dag_id=config.rollback_dag_id,
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dagrun_timeout(),
        doc_md=DOC.format(name=config.name),
        tags=["rollback", f"model:{config.name}", *config.tags],
        default_args=default_args(config),
        params={
            "to_version": Param(
                None,
                type=["null", "string"],
                description="Registered version to serve again (e.g. 3). Empty: previous_champion.",
            ),
            "reason": Param(
                type="string",
                minLength=1,
                description="Why the champion is rolled back (kept in the promotion log).",
            ),
            "force": Param(
                False,
                type="boolean",
                description=(
                    "Bypass the gate: also roll back to a version the gate blocked, an approver rejected or "
                    "that was never champion. Logged as forced_rollback and alerted; needs a reason."
                ),
            ),
        },
    )
    def rollback_dag() -> None:
        @task(
            multiple_outputs=False,
            doc_md="Check the target, log the rollback, move `champion`, alert.",
            outlets=[champion_asset(config.name)],
        )
        def rollback() -> dict:
            from include.orchestration import rollback_tasks

            return rollback_tasks.rollback(config)

        rollback()

    return rollback_dag()


configs, _errors = model_configs()  # reported once, by dags/retrain.py
for _config in configs:
    globals()[_config.rollback_dag_id] = build_rollback_dag(_config)
