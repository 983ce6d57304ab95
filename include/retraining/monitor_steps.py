"""The monitoring steps, one function per `monitor_<model>` task.

Reference: the champion's training snapshot. Current: the monitoring window from the warehouse,
read by the same path as retraining. Data drift and prediction drift compare the two; performance
drift scores the champion on the latest window whose labels have matured. The decision, with its
cooldown, is kept in the warehouse table `model_monitoring`, so history can be charted and a rerun
of the same interval decides the same way.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from include.retraining import drift_gate, layout, registry
from include.retraining.config import ModelConfig
from include.retraining.drift import DriftSummary
from include.retraining.runs import RunInfo
from include.retraining.settings import Settings
from include.retraining.snapshots import read_snapshot, write_parquet_atomic
from include.retraining.tracking import SNAPSHOT_PATH_TAG, RunRecord, Tracker
from include.retraining.warehouse import last_trigger_at, replace_monitoring_row
from include.retraining.windows import Window, recent_window


class MonitoringSkipped(Exception):
    """Nothing to compare (no champion, too few rows); the run ends with the logged reason."""


def monitoring_dir(settings: Settings, config: ModelConfig, window: Window) -> Path:
    return layout.monitoring_dir(settings.artifact_root, config.name, window)


def reference(config: ModelConfig, settings: Settings) -> dict[str, Any]:
    """The champion and where its training rows are; skipped when there is no champion yet."""
    client = registry.configure(settings)
    champion = registry.get_champion(client, config.name)
    if champion is None:
        raise MonitoringSkipped(
            f"model {config.name!r} has no champion yet: nothing to monitor until retrain_{config.name} promotes one"
        )
    run = client.get_run(champion.run_id)
    holdout = run.data.metrics.get(f"holdout_{config.primary_metric}")
    path = run.data.tags.get(SNAPSHOT_PATH_TAG)
    if not path or not Path(path).exists():
        frame = Tracker(client, settings).training_frame(champion.run_id)
        if frame is None:
            raise MonitoringSkipped(f"champion version {champion.version} has no stored training snapshot")
        path = str(
            write_parquet_atomic(
                frame, layout.reference_snapshot(settings.artifact_root, config.name, champion.version)
            )
        )
    return {"version": champion.version, "run_id": champion.run_id, "snapshot": path, "holdout_metric": holdout}


def current(config: ModelConfig, settings: Settings, run: RunInfo, warehouse_url: str) -> dict[str, Any]:
    """The monitoring window, extended back far enough to hold its matured-label counterpart."""
    from include.retraining.warehouse import read_window

    window = recent_window(run.window_end, config.monitor.window_days)
    delay = timedelta(days=config.training.label_delay_days)
    matured = Window(window.start - delay, window.end - delay)
    columns = [config.source.timestamp_column, config.target, *config.features.columns]
    frame = read_window(warehouse_url, config.source, columns, matured.start, window.end, model=config.name)
    ts = pd.to_datetime(frame[config.source.timestamp_column])
    in_current = ts > window.start.replace(tzinfo=None)
    in_matured = ts <= matured.end.replace(tzinfo=None)
    rows_current = int(in_current.sum())
    if rows_current < config.monitor.min_rows:
        raise MonitoringSkipped(
            f"model {config.name!r}: the window {window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d} has "
            f"{rows_current} rows, fewer than monitor.min_rows={config.monitor.min_rows}; no drift check"
        )
    folder = monitoring_dir(settings, config, window)
    current_path = write_parquet_atomic(frame[in_current.to_numpy()], folder / "current.parquet")
    matured_path = write_parquet_atomic(frame[in_matured.to_numpy()], folder / "matured.parquet")
    return {
        "window": window.to_dict(),
        "matured_window": matured.to_dict(),
        "current": str(current_path),
        "matured": str(matured_path),
        "rows_current": rows_current,
        "rows_matured": int(in_matured.sum()),
    }


def _champion_model(config: ModelConfig, settings: Settings) -> Any:
    return Tracker.connect(settings).load_model(f"models:/{config.name}@{registry.CHAMPION}")


def data_drift(config: ModelConfig, settings: Settings, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """Evidently data drift over the features, and PSI of the champion's scores on both windows."""
    from include.retraining.drift_report import compute_data_drift
    from include.retraining.drift_stats import prediction_drift, sample_rows
    from include.retraining.training import predict_scores

    registry.configure(settings)
    reference_frame, current_frame = read_snapshot(ref["snapshot"]), read_snapshot(cur["current"])
    folder = monitoring_dir(settings, config, Window.from_dict(cur["window"]))
    summary = compute_data_drift(
        reference_frame,
        current_frame,
        numeric=list(config.features.numeric),
        categorical=list(config.features.categorical),
        stattest=config.monitor.stattest,
        max_rows=config.monitor.max_rows,
        seed=config.training.seed,
        html_path=folder / "drift_report.html",
        json_path=folder / "drift_summary.json",
        drift_share=config.monitor.drift_share,
    )
    model = _champion_model(config, settings)
    columns = config.features.columns
    psi = prediction_drift(
        predict_scores(
            model, sample_rows(reference_frame, config.monitor.max_rows, config.training.seed)[columns], config.task
        ),
        predict_scores(
            model, sample_rows(current_frame, config.monitor.max_rows, config.training.seed + 1)[columns], config.task
        ),
    )
    return {
        **summary.to_dict(),
        "prediction_psi": psi,
        "report_html": str(folder / "drift_report.html"),
        "report_json": str(folder / "drift_summary.json"),
    }


def performance(config: ModelConfig, settings: Settings, ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any]:
    """The champion's primary metric on matured labels against its holdout value at training."""
    from include.retraining.evaluation import metric_value
    from include.retraining.training import predict_scores

    registry.configure(settings)
    metric = config.primary_metric
    matured = read_snapshot(cur["matured"]).dropna(subset=[config.target])
    result: dict[str, Any] = {"metric": metric, "holdout_value": ref["holdout_metric"], "rows": len(matured)}
    if len(matured) < config.monitor.min_rows or ref["holdout_metric"] is None:
        return {
            **result,
            "current_value": None,
            "drop": None,
            "note": f"{len(matured)} rows with matured labels (< monitor.min_rows) or no holdout value",
        }
    if config.task == "classification" and matured[config.target].nunique() < 2:
        return {**result, "current_value": None, "drop": None, "note": "matured labels hold one class only"}
    scores = predict_scores(_champion_model(config, settings), matured[config.features.columns], config.task)
    value = metric_value(metric, matured[config.target].to_numpy(), scores)
    drop = ref["holdout_metric"] - value if config.higher_is_better else value - ref["holdout_metric"]
    return {**result, "current_value": value, "drop": drop}


def decide(
    config: ModelConfig,
    run: RunInfo,
    drift: dict[str, Any],
    perf: dict[str, Any],
    warehouse_url: str,
    retrain_running: bool,
) -> dict[str, Any]:
    decision = drift_gate.decide(
        DriftSummary.from_dict(drift),
        prediction_psi=drift["prediction_psi"],
        performance_drop=perf["drop"],
        config=config.monitor,
        last_trigger_at=last_trigger_at(warehouse_url, config.name, run.window_end),
        now=run.window_end,
        retrain_running=retrain_running,
        higher_is_better=config.higher_is_better,
    )
    return decision.to_dict()


def report(
    config: ModelConfig,
    settings: Settings,
    run: RunInfo,
    ref: dict[str, Any],
    cur: dict[str, Any],
    drift: dict[str, Any],
    perf: dict[str, Any],
    decision: dict[str, Any],
    warehouse_url: str,
) -> dict[str, Any]:
    """One MLflow run per monitoring run and one `model_monitoring` row per interval (replaced on rerun)."""
    window = Window.from_dict(cur["window"])
    mlflow_run_id = _log_monitoring_run(config, settings, run, ref, cur, drift, perf, decision)
    row = {
        "model": config.name,
        "window_start": window.start.replace(tzinfo=None),
        "window_end": window.end.replace(tzinfo=None),
        "airflow_run_id": run.run_id,
        "champion_version": str(ref["version"]),
        "rows_current": cur["rows_current"],
        "rows_matured": cur["rows_matured"],
        "drift_share": drift["drift_share"],
        "drifted_columns": ",".join(drift["drifted_columns"]),
        "prediction_psi": drift["prediction_psi"],
        "metric": perf["metric"],
        "metric_holdout": perf["holdout_value"],
        "metric_current": perf["current_value"],
        "performance_drop": perf["drop"],
        "drift_detected": bool(decision["drift_detected"]),
        "decision": drift_gate.decision_label(decision),
        "reasons": "; ".join(decision["reasons"] + ([decision["blocked_by"]] if decision["blocked_by"] else [])),
        "report_path": drift["report_html"],
        "mlflow_run_id": mlflow_run_id,
    }
    replace_monitoring_row(warehouse_url, row)
    return {"mlflow_run_id": mlflow_run_id, "report_html": drift["report_html"], "decision": row["decision"]}


def _log_monitoring_run(config, settings, run, ref, cur, drift, perf, decision) -> str:
    tracker = Tracker.connect(settings)
    experiment_id = tracker.ensure_experiment(f"{config.name}-monitoring")
    window = Window.from_dict(cur["window"])
    identity = {"monitoring.window": window.label, "monitoring.champion_version": str(ref["version"])}
    existing = tracker.find_finished_run(experiment_id, identity)
    if existing:
        return existing
    tags = {
        **identity,
        "monitoring.decision": drift_gate.decision_label(decision),
        "monitoring.reasons": "; ".join(decision["reasons"])[:5000],
        "airflow.dag_id": run.dag_id,
        "airflow.run_id": run.run_id,
        "airflow.run_url": run.airflow_url(settings),
    }
    metrics = {
        "drift_share": drift["drift_share"],
        "drifted_columns": len(drift["drifted_columns"]),
        "prediction_psi": drift["prediction_psi"],
        "rows_current": cur["rows_current"],
        "rows_matured": cur["rows_matured"],
        **{
            f"drift_score.{name}": column["score"]
            for name, column in drift["columns"].items()
            if column["score"] is not None
        },
    }
    if perf["current_value"] is not None:
        metrics[f"matured_{perf['metric']}"] = perf["current_value"]
        metrics["performance_drop"] = perf["drop"]
    return tracker.log_run(
        experiment_id,
        f"monitor {window.label}",
        RunRecord(
            tags=tags,
            metrics=metrics,
            artifacts={"report": [drift["report_html"], drift["report_json"]]},
            texts={
                "report/decision.json": json.dumps({"decision": decision, "performance": perf}, indent=2, default=str)
            },
        ),
    )
