"""The monitoring steps, one function per `monitor_<model>` task.

Reference: the champion's reference profile and sample, logged with it at training time (the
`reference` package), and its own feature list. Current: the monitoring window from the
warehouse, as a hash sample of ids drawn there when it holds more rows than the monitor compares
(`Warehouse.read_monitor_window`). Data drift and prediction drift compare the two; performance
drift scores the champion on the latest window whose labels have matured. The decision, with its
cooldown, is kept in the table `model_monitoring`, so history can be charted and a rerun of the
same interval decides the same way. A retrain decision is recorded as `retrain_pending` and
becomes `retrain` only once its drift event was emitted.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd

from include.retraining.artifacts import ArtifactPath, read_snapshot, write_parquet_atomic
from include.retraining.artifacts import monitoring_dir as window_dir
from include.retraining.common import Window, recent_window, sample_rows
from include.retraining.config import ModelConfig
from include.retraining.drift import DriftDecision
from include.retraining.drift import decide as decide_retrain
from include.retraining.monitor.champion import ChampionScorer, champion_features
from include.retraining.monitor.contracts import (
    CurrentWindow,
    DriftEvent,
    DriftResult,
    MonitoringSkipped,
    Performance,
    Reference,
    Reported,
    SeasonalWindow,
)
from include.retraining.monitor.estimate import for_window as estimate_for_window
from include.retraining.monitor.evidence import drift_evidence_for, history
from include.retraining.monitor.record import MonitoringResults, log_monitoring_run, monitoring_row
from include.retraining.monitor.seasonal import seasonal_inputs
from include.retraining.monitor.served import RESCORED, SERVED, served_performance, served_scores, served_windows
from include.retraining.runs import StepContext
from include.retraining.tables import mark_trigger_emitted, replace_monitoring_row
from include.retraining.warehouse import WarehouseError


def monitoring_dir(ctx: StepContext, window: Window) -> ArtifactPath:
    return window_dir(ctx.settings.artifact_root, ctx.config.name, window)


def reference(ctx: StepContext) -> Reference:
    """The champion, its reference sample (from the profile logged at training, cached by version)
    and its own feature list; skipped when there is no champion yet, skipped as
    `champion_unusable` when it cannot be loaded."""
    from include.retraining.reference import champion_profile

    config = ctx.config
    champion = ctx.registry.champion()
    if champion is None:
        raise MonitoringSkipped(
            f"model {config.name!r} has no champion yet: nothing to monitor until retrain_{config.name} promotes one"
        )
    holdout = ctx.tracker.run_metrics(champion.run_id).get(f"holdout_{config.primary_metric}")
    profile = champion_profile(ctx, str(champion.version), champion.run_id)
    if profile is None:
        raise MonitoringSkipped(f"champion version {champion.version} has no stored training snapshot or profile")
    version = str(champion.version)
    return Reference(version, champion.run_id, str(profile.sample_path), holdout, champion_features(ctx, version))


def current(ctx: StepContext, ref: Reference) -> CurrentWindow:
    """The monitoring window and its matured-label counterpart (`label_delay_days` earlier), with
    the configured features and those the champion was trained on. A window larger than its bound
    (`monitor.max_rows`, `monitor.max_matured_rows`) is read as the warehouse's hash sample of ids;
    its row count always comes from the warehouse."""
    config, warehouse, monitor = ctx.config, ctx.warehouse, ctx.config.monitor
    window = recent_window(ctx.run.window_end, monitor.window_days)
    delay = timedelta(days=config.training.label_delay_days)
    matured = Window(window.start - delay, window.end - delay)
    features = list(dict.fromkeys([*config.features.columns, *ref.features]))
    columns = [config.source.timestamp_column, config.target, *features]
    warehouse.check_timestamps(config)  # refuses a text column, or too many rows without a time
    now = warehouse.read_monitor_window(config, columns, window.start, window.end, monitor.max_rows)
    if now.rows < monitor.min_rows:
        raise MonitoringSkipped(
            f"model {config.name!r}: the window {window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d} has "
            f"{now.rows} rows, fewer than monitor.min_rows={monitor.min_rows}; no drift check"
        )
    labelled = warehouse.read_monitor_window(config, columns, matured.start, matured.end, monitor.max_matured_rows)
    folder = monitoring_dir(ctx, window)
    return CurrentWindow(
        window=window,
        matured_window=matured,
        current=str(write_parquet_atomic(now.frame, folder / "current.parquet")),
        matured=str(write_parquet_atomic(labelled.frame, folder / "matured.parquet")),
        rows_current=now.rows,
        rows_matured=labelled.rows,
        rows_current_read=len(now.frame),
        rows_matured_read=len(labelled.frame),
        sampled=now.sampled or labelled.sampled,
        **served_windows(ctx, window, matured, folder, (now.threshold, labelled.threshold)),
    )


def data_drift(
    ctx: StepContext, ref: Reference, cur: CurrentWindow, seasonal: SeasonalWindow | None = None
) -> DriftResult:
    """Evidently data drift over the configured features the champion was trained on, and PSI of
    the champion's scores (on its own feature list) on both windows; the trigger policy's evidence
    (also against the seasonal reference, when read) and the performance estimate."""
    from include.retraining.drift import compute_data_drift

    config = ctx.config
    reference_frame, current_frame = read_snapshot(ref.snapshot), read_snapshot(cur.current)
    folder = monitoring_dir(ctx, cur.window)
    numeric, categorical, notes = _monitored_columns(config, reference_frame)
    champion = ChampionScorer(ctx, ref)
    evidence = drift_evidence_for(config, champion, reference_frame, current_frame, *seasonal_inputs(seasonal))
    summary = compute_data_drift(
        reference_frame,
        current_frame,
        numeric=numeric,
        categorical=categorical,
        stattest=_stattest_for(config.monitor.stattest, [*numeric, *categorical]),
        max_rows=config.monitor.max_rows,
        seed=config.training.seed,
        html_path=folder / "drift_report.html",
        json_path=folder / "drift_summary.json",
        drift_share=config.monitor.drift_share,
        window=_window_rows(cur),
        evidence=evidence,
        trigger=config.trigger,
    )
    served = served_scores(cur, ref)
    return DriftResult(
        summary=summary,
        evidence=evidence,
        prediction_psi=_prediction_psi(config, champion, reference_frame, current_frame, served),
        report_html=str(folder / "drift_report.html"),
        report_json=str(folder / "drift_summary.json"),
        **_window_rows(cur),
        notes=notes,
        prediction_source=RESCORED if served is None else SERVED,
        rows_served=0 if served is None else len(served),
        estimate=estimate_for_window(
            config, champion.scores, reference_frame, current_frame, served, ref.holdout_metric
        ),
    )


def _window_rows(cur: CurrentWindow) -> dict[str, int | bool]:
    """How many rows the current window holds and how many the monitor read of it."""
    return {"rows_window": cur.rows_current, "rows_read": cur.rows_current_read, "sampled": cur.sampled}


def _monitored_columns(config: ModelConfig, reference_frame: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """The configured features that have a baseline in the champion's training rows; a feature
    added to the model file since has none yet and is noted, not compared."""
    numeric = [c for c in config.features.numeric if c in reference_frame.columns]
    categorical = [c for c in config.features.categorical if c in reference_frame.columns]
    new = [c for c in config.features.columns if c not in reference_frame.columns]
    notes = [f"not compared (not in the champion's training data): {', '.join(new)}"] if new else []
    return numeric, categorical, notes


def _stattest_for(stattest: str | dict[str, str] | None, columns: list[str]) -> str | dict[str, str] | None:
    if not isinstance(stattest, dict):
        return stattest
    return {key: method for key, method in stattest.items() if key in ("numeric", "categorical") or key in columns}


def _prediction_psi(
    config: ModelConfig,
    champion: ChampionScorer,
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    served: np.ndarray | None,
) -> float:
    """PSI of the champion's scores: what it served in the window, else the window scored now."""
    from include.retraining.drift import class_drift, prediction_drift
    from include.retraining.learning import holdout_rows, predicted_classes

    rows, seed = config.monitor.max_rows, config.training.seed
    # Out-of-sample: the champion's scores on its own training rows are overconfident, and their
    # PSI against any new window read as drift (0.21-0.26 at 500 rows of unchanged data).
    reference_scores = champion.scores(sample_rows(holdout_rows(reference_frame, config), rows, seed))
    current_scores = served if served is not None else champion.scores(sample_rows(current_frame, rows, seed + 1))
    if config.task == "multiclass":  # the shares of the predicted classes
        return class_drift(predicted_classes(reference_scores), predicted_classes(current_scores))
    return prediction_drift(reference_scores, current_scores)


def performance(ctx: StepContext, ref: Reference, cur: CurrentWindow) -> Performance:
    """The champion's primary metric on matured labels against its holdout value at training:
    on what it served when anything was served in the matured window, else scored here."""
    from include.retraining.learning import metric_value, unknown_labels_note

    served = served_performance(ctx.config, ref, cur)
    if served is not None:
        return served
    config = ctx.config
    metric = config.primary_metric
    matured = read_snapshot(cur.matured).dropna(subset=[config.target])
    empty = Performance(metric, ref.holdout_metric, len(matured), None, None, source=RESCORED)
    if len(matured) < config.monitor.min_rows or ref.holdout_metric is None:
        note = f"{len(matured)} rows with matured labels (< monitor.min_rows) or no holdout value"
        return replace(empty, note=note)
    if config.task != "regression" and matured[config.target].nunique() < 2:
        return replace(empty, note="matured labels hold one class only")
    y, scores = matured[config.target].to_numpy(), ChampionScorer(ctx, ref).scores(matured)
    value = metric_value(metric, y, scores)
    holdout = ref.holdout_metric
    drop = holdout - value if config.higher_is_better else value - holdout
    return replace(empty, current_value=value, drop=drop, note=unknown_labels_note(y, scores))


def decide(ctx: StepContext, drift: DriftResult, perf: Performance, retrain_running: bool) -> DriftDecision:
    """The retrain decision over the window's evidence and the model's history, read once: the
    cooldown counted from emitted triggers only, a later monitored window blocking a past one."""
    config, now = ctx.config, ctx.run.window_end
    decision = decide_retrain(
        drift.evidence,
        prediction_psi=drift.prediction_psi,
        performance_drop=perf.drop,
        monitor=config.monitor,
        trigger=config.trigger,
        history=history(ctx.pipeline_db, config, now),
        now=now,
        retrain_running=retrain_running,
    )
    return replace(decision, notes=[*decision.notes, *drift.notes])


def report(ctx: StepContext, results: MonitoringResults) -> Reported:
    """One MLflow run per monitoring run and one `model_monitoring` row per interval (replaced on
    rerun). A retrain decision is recorded as pending: `trigger` marks it once the event is out."""
    mlflow_run_id = log_monitoring_run(ctx, results)
    row = {**monitoring_row(ctx.config, ctx.run, results), "mlflow_run_id": mlflow_run_id}
    replace_monitoring_row(ctx.pipeline_db, row)
    return Reported(mlflow_run_id, results.drift.report_html, results.decision.outcome)


def drift_event(ctx: StepContext, cur: CurrentWindow, drift: DriftResult, decision: DriftDecision) -> DriftEvent:
    """The extra of the drift event that starts `retrain_<model>` on this window."""
    return DriftEvent(
        reason="; ".join(decision.reasons),
        window_end=cur.window.end.isoformat(),
        drift_share=drift.summary.drift_share,
        drifted_columns=drift.drifted_columns,
        prediction_psi=drift.prediction_psi,
        monitor_run_id=ctx.run.run_id,
        report=drift.report_html,
    )


def mark_triggered(ctx: StepContext, cur: CurrentWindow) -> None:
    """Record that the interval's drift event was emitted, so the cooldown starts counting it."""
    if mark_trigger_emitted(ctx.pipeline_db, ctx.config.name, cur.window.end) == 0:
        raise WarehouseError(
            f"model {ctx.config.name!r}: no retrain_pending row in model_monitoring for the window ending "
            f"{cur.window.end.isoformat()}; rerun the monitoring run's report task before trigger"
        )
