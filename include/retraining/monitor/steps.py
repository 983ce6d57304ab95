"""The monitoring steps, one function per `monitor_<model>` task.

Reference: the champion's reference profile and sample, logged with it at training time (see
`reference_store`), and its own feature list. Current: the monitoring
window from the warehouse, as a hash sample of ids drawn there when it holds more rows than the
monitor compares (`warehouse_sample.read_monitor_window`). Data drift and prediction drift
compare the two; performance drift scores the champion on the latest window whose labels have
matured. The decision, with its cooldown, is kept in the warehouse table `model_monitoring`, so
history can be charted and a rerun of the same interval decides the same way. A retrain decision
is recorded as `retrain_pending` and becomes `retrain` only once its drift event was emitted.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from include.retraining.artifacts import layout
from include.retraining.artifacts.snapshots import read_snapshot, write_parquet_atomic
from include.retraining.common.windows import Window, recent_window
from include.retraining.config.model import ModelConfig
from include.retraining.drift import decision as drift_gate
from include.retraining.drift.summary import DriftSummary
from include.retraining.monitor import estimate as performance_estimate
from include.retraining.monitor import served as monitor_served
from include.retraining.monitor.champion import ChampionScorer, champion_features
from include.retraining.monitor.contracts import (
    CurrentWindow,
    DecisionDict,
    DriftResult,
    MonitoringSkipped,
    PerformanceResult,
    ReferenceInfo,
    ReportResult,
    SeasonalWindow,
    WindowRows,
)
from include.retraining.monitor.record import MonitoringResults, log_monitoring_run, monitoring_row
from include.retraining.monitor.seasonal import seasonal_inputs
from include.retraining.monitor.trigger_inputs import drift_evidence_for, holdout_rows, policy_inputs
from include.retraining.reference.store import champion_profile
from include.retraining.runs.context import StepContext
from include.retraining.tables import monitoring as monitoring_table
from include.retraining.warehouse import reads as warehouse
from include.retraining.warehouse import sample as warehouse_sample


def monitoring_dir(ctx: StepContext, window: Window) -> Path:
    return layout.monitoring_dir(ctx.settings.artifact_root, ctx.config.name, window)


def reference(ctx: StepContext) -> ReferenceInfo:
    """The champion, its reference sample (from the profile logged at training, cached by version)
    and its own feature list; skipped when there is no champion yet, skipped as
    `champion_unusable` when it cannot be loaded."""
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
    return {
        "version": str(champion.version),
        "run_id": champion.run_id,
        "snapshot": str(profile.sample_path),
        "holdout_metric": holdout,
        "features": champion_features(ctx, str(champion.version)),
    }


def current(ctx: StepContext, ref: ReferenceInfo) -> CurrentWindow:
    """The monitoring window and its matured-label counterpart (`label_delay_days` earlier), with
    the configured features and those the champion was trained on. A window larger than its bound
    (`monitor.max_rows`, `monitor.max_matured_rows`) is read as the warehouse's hash sample of ids;
    its row count always comes from the warehouse."""
    config, url, monitor = ctx.config, ctx.warehouse_url, ctx.config.monitor
    window = recent_window(ctx.run.window_end, monitor.window_days)
    delay = timedelta(days=config.training.label_delay_days)
    matured = Window(window.start - delay, window.end - delay)
    features = list(dict.fromkeys([*config.features.columns, *ref["features"]]))
    columns = [config.source.timestamp_column, config.target, *features]
    now = warehouse_sample.read_monitor_window(url, config, columns, window.start, window.end, monitor.max_rows)
    if now.rows < monitor.min_rows:
        raise MonitoringSkipped(
            f"model {config.name!r}: the window {window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d} has "
            f"{now.rows} rows, fewer than monitor.min_rows={monitor.min_rows}; no drift check"
        )
    labelled = warehouse_sample.read_monitor_window(
        url, config, columns, matured.start, matured.end, monitor.max_matured_rows
    )
    folder = monitoring_dir(ctx, window)
    return {
        "window": window.to_dict(),
        "matured_window": matured.to_dict(),
        "current": str(write_parquet_atomic(now.frame, folder / "current.parquet")),
        "matured": str(write_parquet_atomic(labelled.frame, folder / "matured.parquet")),
        "rows_current": now.rows,
        "rows_matured": labelled.rows,
        "rows_current_read": len(now.frame),
        "rows_matured_read": len(labelled.frame),
        "sampled": now.sampled or labelled.sampled,
        **monitor_served.served_windows(ctx, window, matured, folder, (now.threshold, labelled.threshold)),
    }


def data_drift(
    ctx: StepContext, ref: ReferenceInfo, cur: CurrentWindow, seasonal: SeasonalWindow | None = None
) -> DriftResult:
    """Evidently data drift over the configured features the champion was trained on, and PSI of
    the champion's scores (on its own feature list) on both windows; the trigger policy's evidence
    (also against the seasonal reference, when read) and the performance estimate."""
    from include.retraining.drift.report import compute_data_drift

    config = ctx.config
    reference_frame, current_frame = read_snapshot(ref["snapshot"]), read_snapshot(cur["current"])
    folder = monitoring_dir(ctx, Window.from_dict(cur["window"]))
    numeric, categorical, notes = _monitored_columns(config, reference_frame)
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
        window=window_rows(cur),
    )
    served = monitor_served.served_scores(cur, ref)
    champion = ChampionScorer(ctx, ref)
    psi = _prediction_psi(config, champion, reference_frame, current_frame, served)
    return {
        **summary.to_dict(),
        "prediction_psi": psi,
        "report_html": str(folder / "drift_report.html"),
        "report_json": str(folder / "drift_summary.json"),
        **window_rows(cur),
        "notes": notes,
        "prediction_source": monitor_served.RESCORED if served is None else monitor_served.SERVED,
        "rows_served": 0 if served is None else len(served),
        "evidence": drift_evidence_for(
            config, champion, ref["version"], reference_frame, current_frame, *seasonal_inputs(seasonal)
        ).to_dict(),
        "performance_estimate": performance_estimate.for_window(
            config, champion.scores, reference_frame, current_frame, served, ref["holdout_metric"]
        ).to_dict(),
    }


def window_rows(cur: CurrentWindow) -> WindowRows:
    """How many rows the current window holds and how many the monitor read of it."""
    rows = cur["rows_current"]
    return {"rows_window": rows, "rows_read": cur.get("rows_current_read", rows), "sampled": cur.get("sampled", False)}


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
    from include.retraining.drift.stats import prediction_drift, sample_rows

    rows, seed = config.monitor.max_rows, config.training.seed
    # Out-of-sample: the champion's scores on its own training rows are overconfident, and their
    # PSI against any new window read as drift (0.21-0.26 at 500 rows of unchanged data).
    reference_scores = champion.scores(sample_rows(holdout_rows(config, reference_frame), rows, seed))
    if served is not None:
        return prediction_drift(reference_scores, served)
    current_scores = champion.scores(sample_rows(current_frame, rows, seed + 1))
    return prediction_drift(reference_scores, current_scores)


def performance(ctx: StepContext, ref: ReferenceInfo, cur: CurrentWindow) -> PerformanceResult:
    """The champion's primary metric on matured labels against its holdout value at training:
    on what it served when anything was served in the matured window, else scored here."""
    from include.retraining.learning.evaluation import metric_value

    served = monitor_served.served_performance(ctx.config, ref, cur)
    if served is not None:
        return served
    config = ctx.config
    metric = config.primary_metric
    matured = read_snapshot(cur["matured"]).dropna(subset=[config.target])
    empty: PerformanceResult = {
        "metric": metric,
        "holdout_value": ref["holdout_metric"],
        "rows": len(matured),
        "current_value": None,
        "drop": None,
        "source": monitor_served.RESCORED,
    }
    if len(matured) < config.monitor.min_rows or ref["holdout_metric"] is None:
        note = f"{len(matured)} rows with matured labels (< monitor.min_rows) or no holdout value"
        return {**empty, "note": note}
    if config.task == "classification" and matured[config.target].nunique() < 2:
        return {**empty, "note": "matured labels hold one class only"}
    value = metric_value(metric, matured[config.target].to_numpy(), ChampionScorer(ctx, ref).scores(matured))
    holdout = ref["holdout_metric"]
    return {**empty, "current_value": value, "drop": holdout - value if config.higher_is_better else value - holdout}


def decide(ctx: StepContext, drift: DriftResult, perf: PerformanceResult, retrain_running: bool) -> DecisionDict:
    """The retrain decision, with the cooldown counted from emitted triggers only and a later
    monitored window blocking a past one."""
    config, run, url = ctx.config, ctx.run, ctx.warehouse_url
    summary = DriftSummary.from_dict(drift)
    monitor = config.monitor
    unknown = [c for c in monitor.critical_features if c not in summary.columns]
    if unknown:
        monitor = monitor.model_copy(
            update={"critical_features": [c for c in monitor.critical_features if c not in unknown]}
        )
    decision = drift_gate.decide(
        summary,
        prediction_psi=drift["prediction_psi"],
        performance_drop=perf["drop"],
        config=monitor,
        last_trigger_at=monitoring_table.last_trigger_at(url, config.name, run.window_end),
        now=run.window_end,
        retrain_running=retrain_running,
        higher_is_better=config.higher_is_better,
        later_window_end=monitoring_table.latest_monitoring_end(url, config.name),
        **policy_inputs(config, drift, url, run.window_end),
    )
    notes = [*drift.get("notes", []), *([f"critical features not compared: {', '.join(unknown)}"] if unknown else [])]
    return {**decision.to_dict(), "notes": [*decision.notes, *notes]}


def report(ctx: StepContext, results: MonitoringResults) -> ReportResult:
    """One MLflow run per monitoring run and one `model_monitoring` row per interval (replaced on
    rerun). A retrain decision is recorded as pending: `trigger` marks it once the event is out."""
    mlflow_run_id = log_monitoring_run(ctx, results)
    row = {**monitoring_row(ctx.config, ctx.run, results), "mlflow_run_id": mlflow_run_id}
    monitoring_table.replace_monitoring_row(ctx.warehouse_url, row)
    label = drift_gate.decision_label(results.decision)
    return {"mlflow_run_id": mlflow_run_id, "report_html": results.drift["report_html"], "decision": label}


def mark_triggered(ctx: StepContext, cur: CurrentWindow) -> None:
    """Record that the interval's drift event was emitted, so the cooldown starts counting it."""
    end = Window.from_dict(cur["window"]).end
    if monitoring_table.mark_trigger_emitted(ctx.warehouse_url, ctx.config.name, end) == 0:
        raise warehouse.WarehouseError(
            f"model {ctx.config.name!r}: no retrain_pending row in model_monitoring for the window ending "
            f"{cur['window']['end']}; rerun the monitoring run's report task before trigger"
        )
