"""`monitor_<model>`: one drift-monitoring DAG per model file in include/models/.

Wiring only: each task imports its step at run time and passes small references along.
"""

from __future__ import annotations

from airflow.sdk import DAG, CronTriggerTimetable, dag, task

from include.orchestration.assets import champion_asset, drift_asset
from include.orchestration.dagfiles import (
    START_DATE,
    dagrun_timeout,
    default_args,
    model_configs,
    window_end_param,
)
from include.retraining.config import ModelConfig

DOC = """
### Monitor `{name}`

Runs `{schedule}` (UTC). Compares the last {window_days} days of warehouse data with the
champion's training data and, when drift crosses a threshold, emits an event on asset
`{name}_drift`, which starts `retrain_{name}`.

| task | what it does | when it stops |
|---|---|---|
| reference | finds the `champion` alias, its reference profile (a sample of its training data) and the features it was trained on | no champion yet: skipped; champion cannot be loaded: alert, skipped (`champion_unusable`) |
| current | reads the window (and its matured-label counterpart, {label_delay_days} days earlier) | fewer than {min_rows} rows: skipped; a missing column: alert and fail |
| seasonal_reference | with `trigger.seasonal_reference` ({seasonal} here): the same window a season ago (or the previous window), a second reference a column must drift against too | off: returns at once; too few rows there: noted, the champion's data alone decides |
| data_drift | Evidently DataDriftPreset per feature, plus PSI of the champion's scores (those it served in the window; re-scored where it served none), and the `{metric}` estimate (labels not matured) from the champion's calibrated scores, reported only | |
| performance | champion `{metric}` on matured labels vs its holdout value: on its own served predictions joined with the labels that arrived (needs {min_coverage:.0%} labelled), per version and beside a shadow challenger; re-scored where nothing was served | |
| decide | the trigger policy: a `{metric}` drop > {performance_drop}, a critical feature ({critical}), importance-weighted drift >= {weighted_drift} (>= {weighted_drift_large} when matured labels say the champion holds) or prediction PSI; loop guard; cooldown {cooldown}h | |
| report | the HTML report, an MLflow run in `{name}-monitoring`, a row in `model_monitoring` (a retrain as `retrain_pending`); alerts once per episode when `{metric}` on matured labels is beyond the alert bound ({alert_limit}) or drift that warrants a retrain is held back (cooldown, loop guard, a running retrain) | |
| auto_rollback | with `monitor.auto_rollback: true` ({auto_rollback} here): rolls `champion` back to `previous_champion` when the champion does significantly worse on the matured rows (the gate's paired test at {rollback_confidence}), logs `auto_rollback`, alerts | skipped: off, no significant regression, or the last move was already a rollback |
| trigger | emits the drift event and a Slack alert, then marks the row `retrain` (the cooldown counts only these) | skipped: no threshold crossed, cooldown, a retrain already running, or a later window already monitored |
| verify_promotion | once the matured window lies after the champion's training data: the champion and the version its promotion replaced on those rows, the gate's paired test; the verdict against the gate's promised lower bound in `promotion_outcomes`; significantly worse: an alert, once | skipped: the champion was not promoted over another version, already verified on an earlier window, or the matured window still overlaps its training data |
| canary | with `serving.canary` ({canary} here) and a version on canary (alias `challenger`): the gate's paired test of challenger minus champion on the matured window's labelled rows both scored; its lower bound above `gate.min_improvement`: promoted (log row `promote`); significantly worse: ended (log row `reject`, alias `challenger` removed, one alert) | skipped: no canary, ended, or waiting for more labels |

Open the report: the `report` task's log prints its path; it is also an artifact of the MLflow run.
"""


def _doc_md(config: ModelConfig) -> str:
    monitor = config.monitor
    return DOC.format(
        name=config.name,
        schedule=monitor.schedule,
        window_days=monitor.window_days,
        label_delay_days=config.training.label_delay_days,
        min_rows=monitor.min_rows,
        metric=config.primary_metric,
        weighted_drift=config.trigger.weighted_drift,
        weighted_drift_large=config.trigger.weighted_drift_large,
        critical=", ".join(monitor.critical_features) or "none",
        performance_drop=monitor.performance_drop,
        cooldown=monitor.cooldown_hours,
        min_coverage=config.labels.min_coverage,
        auto_rollback="on" if monitor.auto_rollback else "off",
        rollback_confidence=monitor.auto_rollback_confidence,
        seasonal=config.trigger.seasonal_reference,
        canary=f"fraction {config.serving.canary.fraction:g}" if config.serving.canary else "off",
        alert_limit=f"monitor.{limit.key} {limit.value:g}" if (limit := config.alert_limit) else "none set",
    )


def build_monitor_dag(config: ModelConfig) -> DAG:
    @dag(
        dag_id=config.monitor_dag_id,
        schedule=CronTriggerTimetable(config.monitor.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dagrun_timeout(),
        doc_md=_doc_md(config),
        tags=["monitoring", f"model:{config.name}", *config.tags],
        default_args=default_args(config),
        params={"window_end": window_end_param("monitoring")},
    )
    def monitor_dag() -> None:
        reference, current, seasonal_reference, data_drift, performance, decide, report, trigger = _tasks(config)
        ref = reference()
        cur = current(ref)
        drift, perf = data_drift(ref, cur, seasonal_reference(cur)), performance(ref, cur)
        decision = decide(drift, perf)
        report(ref, cur, drift, perf, decision) >> trigger(cur, drift, decision)
        perf >> _auto_rollback_task(config)(ref, cur)
        perf >> _verify_promotion_task(config)(ref, cur)
        if config.serving.canary is not None:
            perf >> _canary_task(config)(cur)

    return monitor_dag()


# The eight tasks; each imports its body at run time and hands on a typed result as a dict.
def _tasks(config: ModelConfig) -> tuple:
    @task(multiple_outputs=False, doc_md="The champion, its reference profile and its own feature list.")
    def reference() -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.reference(config)

    @task(multiple_outputs=False, doc_md="The window from the warehouse: configured and champion features.")
    def current(ref: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.current(config, ref)

    @task(multiple_outputs=False, doc_md="The seasonal reference's rows (trigger.seasonal_reference), if on.")
    def seasonal_reference(cur: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.seasonal_reference(config, cur)

    @task(multiple_outputs=False, doc_md="Evidently data drift per feature and prediction drift (PSI).")
    def data_drift(ref: dict, cur: dict, seasonal: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.data_drift(config, ref, cur, seasonal)

    @task(multiple_outputs=False, doc_md="The champion's primary metric on matured labels vs its holdout value.")
    def performance(ref: dict, cur: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.performance(config, ref, cur)

    @task(multiple_outputs=False, doc_md="Thresholds, cooldown, running retrains and later windows decide.")
    def decide(drift: dict, perf: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.decide(config, drift, perf)

    @task(multiple_outputs=False, doc_md="HTML report, MLflow monitoring run, a model_monitoring row.")
    def report(ref: dict, cur: dict, drift: dict, perf: dict, decision: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.report(config, ref, cur, drift, perf, decision)

    @task(
        multiple_outputs=False,
        doc_md="Emit the drift event that starts the retrain.",
        outlets=[drift_asset(config.name)],
    )
    def trigger(cur: dict, drift: dict, decision: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.trigger(config, cur, drift, decision)

    return reference, current, seasonal_reference, data_drift, performance, decide, report, trigger


def _auto_rollback_task(config: ModelConfig):
    @task(
        multiple_outputs=False,
        doc_md="With monitor.auto_rollback: back to previous_champion when the champion does significantly worse.",
        outlets=[champion_asset(config.name)],  # emitted only when it rolled back (otherwise skipped)
    )
    def auto_rollback(ref: dict, cur: dict) -> dict:
        from include.orchestration import rollback_tasks

        return rollback_tasks.auto_rollback(config, ref, cur)

    return auto_rollback


def _verify_promotion_task(config: ModelConfig):
    @task(
        multiple_outputs=False,
        doc_md="Did the champion's promotion pay off as the gate promised? A row of promotion_outcomes.",
    )
    def verify_promotion(ref: dict, cur: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.verify_promotion(config, ref, cur)

    return verify_promotion


def _canary_task(config: ModelConfig):
    @task(
        multiple_outputs=False,
        doc_md="serving.canary: promote the challenger on canary, end it, or wait, on matured labels.",
        outlets=[champion_asset(config.name)],  # emitted when it promoted (ending or waiting moves nothing)
    )
    def canary(cur: dict) -> dict:
        from include.orchestration import monitor_tasks

        return monitor_tasks.canary(config, cur)

    return canary


configs, _errors = model_configs()  # reported once, by dags/retrain.py
for _config in configs:
    globals()[_config.monitor_dag_id] = build_monitor_dag(_config)
