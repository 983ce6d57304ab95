"""`score_<model>`: one batch-scoring DAG per model file with a `scoring:` section.

Wiring only: each task imports its step at run time and passes small references along.
"""

from __future__ import annotations

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from include.orchestration.assets import champion_asset
from include.orchestration.dagfiles import (
    START_DATE,
    dagrun_timeout,
    default_args,
    model_configs,
    window_end_param,
)
from include.retraining.config import ModelConfig

DOC = """
### Score `{name}`

Runs `{schedule}` (UTC) and whenever alias `champion` moves (an event on asset
`{name}_champion`: a promotion, an approval, a rollback). Each run scores the rows of one
interval of that cron's grid, `(previous fire, fire]` by `{timestamp}`, with
`models:/{name}@champion`{shadow}, and replaces that interval's rows of table `{table}` in one
transaction. A run started by the champion asset rescores the latest complete interval with the
new champion; the `window_end` param picks a past interval (the one ending at or before it).

| task | what it does | when it fails or stops |
|---|---|---|
| plan | the interval, and the versions behind `champion`{challenger} | no champion yet: skipped |
| score | reads the interval from connection `{conn_id}`, scores it on each model's own features, replaces the interval's rows | a missing feature column or a null id, and a null or an unseen category where the model file says `fail` (here `scoring.nulls: {nulls}`, `scoring.unseen_categories: {unseen}`): an alert and a failure, nothing written |
"""


def _doc(config: ModelConfig) -> str:
    scoring = config.scoring
    return DOC.format(
        name=config.name,
        schedule=scoring.schedule,
        timestamp=config.source.timestamp_column,
        shadow=" and, in shadow, `challenger`" if scoring.shadow else "",
        challenger=" and `challenger`" if scoring.shadow else "",
        table=config.predictions_table,
        conn_id=config.source.conn_id,
        nulls=scoring.nulls,
        unseen=scoring.unseen_categories,
    )


def build_score_dag(config: ModelConfig) -> DAG:
    @dag(
        dag_id=config.score_dag_id,
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(config.scoring.schedule, timezone="UTC"), assets=champion_asset(config.name)
        ),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dagrun_timeout(),
        doc_md=_doc(config),
        tags=["scoring", f"model:{config.name}", *config.tags],
        default_args=default_args(config),
        params={"window_end": window_end_param("scoring")},
    )
    def score_dag() -> None:
        @task(multiple_outputs=False, doc_md="The grid interval and the versions behind the aliases, pinned.")
        def plan() -> dict:
            from include.orchestration import score_tasks

            return score_tasks.plan(config)

        @task(multiple_outputs=False, doc_md="Read the interval, score it, replace its rows in one transaction.")
        def score(planned: dict) -> dict:
            from include.orchestration import score_tasks

            return score_tasks.score(config, planned)

        score(plan())

    return score_dag()


configs, _errors = model_configs()  # reported once, by dags/retrain.py
for _config in configs:
    if _config.scoring is not None:
        globals()[_config.score_dag_id] = build_score_dag(_config)
