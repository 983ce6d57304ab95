"""The retraining steps, one function per `retrain_<model>` task, each taking the task's step
context and the references earlier tasks returned.

A step reads what the previous one wrote (a snapshot path, an MLflow run id), so a retry or a
rerun of the same window repeats the same work and finds what it already did instead of
duplicating it. MLflow is reached only through `ctx.tracker` and `ctx.registry`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import Any

import pandas as pd

from include.retraining import tracking
from include.retraining.alerts import Alert, gate_blocked_alert
from include.retraining.config import ModelConfig
from include.retraining.layout import validation_dir
from include.retraining.registry import COMPARED_WITH_TAG, DECIDED_BY_TAG, DECISION_TAG, REASON_TAG, Champion
from include.retraining.runs import StepContext
from include.retraining.settings import REPO_ROOT
from include.retraining.snapshots import read_snapshot, write_snapshot
from include.retraining.training import TrainingDataError, check_trainable
from include.retraining.windows import Window, training_window


def config_hash(config: ModelConfig) -> str:
    """Hash of what shapes a trained model, so a rerun with the same data and config is the same run."""
    relevant = config.model_dump(include={"task", "source", "target", "features", "training"})
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def extract(ctx: StepContext) -> dict[str, Any]:
    """Read the training window and write it as a content-addressed snapshot."""
    from include.retraining.warehouse import read_window

    config = ctx.config
    window = training_window(ctx.run.window_end, config.training.window_days, config.training.label_delay_days)
    columns = [config.source.timestamp_column, config.target, *config.features.columns]
    if config.source.id_column:
        columns.insert(0, config.source.id_column)
    frame = read_window(ctx.warehouse_url, config.source, columns, window.start, window.end, model=config.name)
    if len(frame) < config.training.min_rows:
        raise TrainingDataError(
            f"model {config.name!r}: the window {window.start:%Y-%m-%d %H:%M} .. {window.end:%Y-%m-%d %H:%M} "
            f"has {len(frame)} rows, fewer than training.min_rows={config.training.min_rows}; "
            "check that the upstream load ran, or widen training.window_days"
        )
    snapshot = write_snapshot(frame, ctx.settings.artifact_root, config.name, window)
    return {**snapshot.to_dict(), "window": window.to_dict()}


def validate(ctx: StepContext, extracted: dict[str, Any]) -> dict[str, Any]:
    """Raises DataValidationError (with the report) when the window fails the suite."""
    from include.retraining.validation import profile_reference, validate_or_raise

    config = ctx.config
    champion = ctx.registry.champion()
    reference = ctx.tracker.training_frame(champion.run_id) if champion else None
    profile = profile_reference(reference, config) if reference is not None else None
    out_dir = validation_dir(ctx.settings.artifact_root, config.name, Window.from_dict(extracted["window"]))
    report = validate_or_raise(read_snapshot(extracted["path"]), config, profile, out_dir)
    return {**report.to_dict(), "learned_from_champion": champion.version if profile else None}


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def train(ctx: StepContext, extracted: dict[str, Any]) -> dict[str, Any]:
    """Fit on the snapshot's training split and log everything to MLflow; reuse an identical run."""
    from include.retraining.training import SKOPS_TRUSTED_TYPES, fit, split_by_time

    config, tracker = ctx.config, ctx.tracker
    experiment_id = tracker.ensure_experiment(config.name)
    identity = {tracking.SNAPSHOT_HASH_TAG: extracted["content_hash"], tracking.CONFIG_HASH_TAG: config_hash(config)}
    existing = tracker.find_finished_run(experiment_id, identity)
    if existing:
        model_uri = tracker.run_tags(existing)[tracking.MODEL_URI_TAG]
        return {"run_id": existing, "experiment_id": experiment_id, "model_uri": model_uri, "reused": True}

    frame = read_snapshot(extracted["path"])
    check_trainable(frame, config)
    split = split_by_time(frame, config)
    model = fit(config, split.train)
    # Numeric features as floats in the signature: an integer column cannot carry a missing
    # value, and serving-time nulls must be accepted (the pipeline imputes them).
    features = split.train[config.features.columns].astype({c: "float64" for c in config.features.numeric})
    logged = tracker.log_training_run(
        experiment_id,
        _training_record(ctx, extracted, frame, identity, rows=(len(split.train), len(split.holdout))),
        tracking.ModelLog(model, features.head(100), features.head(3), SKOPS_TRUSTED_TYPES),
    )
    return {"run_id": logged.run_id, "experiment_id": experiment_id, "model_uri": logged.model_uri, "reused": False}


def _training_record(
    ctx: StepContext, extracted: dict[str, Any], frame: pd.DataFrame, identity: dict[str, str], rows: tuple[int, int]
) -> tracking.TrainingRunLog:
    config, run = ctx.config, ctx.run
    window = Window.from_dict(extracted["window"])
    commit = _git_commit()
    tags = {
        **identity,
        tracking.SNAPSHOT_PATH_TAG: extracted["path"],
        tracking.WINDOW_START_TAG: window.start.isoformat(),
        tracking.WINDOW_END_TAG: window.end.isoformat(),
        tracking.TRIGGER_TAG: run.trigger,
        tracking.DAG_ID_TAG: run.dag_id,
        tracking.RUN_ID_TAG: run.run_id,
        tracking.RUN_URL_TAG: ctx.run_url,
        **({tracking.GIT_COMMIT_TAG: commit} if commit else {}),
    }
    params = {
        "estimator": config.training.estimator,
        **{f"estimator.{k}": v for k, v in config.training.params.items()},
        "window_days": config.training.window_days,
        "label_delay_days": config.training.label_delay_days,
        "holdout_fraction": config.training.holdout_fraction,
        "rows_train": rows[0],
        "rows_holdout": rows[1],
    }
    return tracking.TrainingRunLog(
        run_name=f"train {window.label}",
        tags=tags,
        params=params,
        config_json=config.model_dump(mode="json"),
        frame=frame,
        snapshot_path=extracted["path"],
        dataset_name=f"{config.name}-{window.label}",
        target=config.target,
        extra_tags={tracking.CONFIG_HASH_TAG: identity[tracking.CONFIG_HASH_TAG]},
    )


def evaluate(ctx: StepContext, extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    """Score challenger and champion on the same holdout; the gate's decision with its figures."""
    from include.retraining.evaluation import check_holdout, compute_metrics
    from include.retraining.gate import judge
    from include.retraining.training import predict_scores, split_by_time

    config, tracker = ctx.config, ctx.tracker
    champion = ctx.registry.champion()
    decided = _already_decided(ctx, trained, champion)
    if decided is not None:
        return decided
    holdout = split_by_time(read_snapshot(extracted["path"]), config).holdout.dropna(subset=[config.target])
    y = holdout[config.target].to_numpy()
    check_holdout(config.name, config.task, y)
    X = holdout[config.features.columns]
    challenger_scores = predict_scores(tracker.load_model(trained["model_uri"]), X, config.task)
    challenger_metrics = compute_metrics(config.task, y, challenger_scores)
    champion_metrics, champion_scores = None, None
    if champion is not None:
        champion_scores = predict_scores(tracker.load_model(champion.model_uri), X, config.task)
        champion_metrics = compute_metrics(config.task, y, champion_scores)
    decision = judge(config, y, challenger_scores, champion_scores, challenger_metrics, champion_metrics)
    _log_evaluation(ctx, trained["run_id"], (y, challenger_scores), challenger_metrics, champion_metrics, decision)
    return {
        "champion_version": champion.version if champion else None,
        **decision.to_dict(),
        "already_decided": False,
        "challenger_metrics": challenger_metrics,
        "champion_metrics": champion_metrics,
    }


def _already_decided(ctx: StepContext, trained: dict[str, Any], champion: Champion | None) -> dict[str, Any] | None:
    """A rerun of a snapshot the gate already judged against this same champion decides nothing
    new: no second evaluation, no second alert."""
    if not trained.get("reused"):
        return None
    version = ctx.registry.version_for_run(trained["run_id"])
    if version is None:
        return None
    if champion is not None and champion.run_id == trained["run_id"]:
        reason = f"version {champion.version} trained on this exact snapshot is already champion"
    elif version.tags.get(DECISION_TAG) == "block" and version.tags.get(COMPARED_WITH_TAG) == (
        champion.version if champion else ""
    ):
        reason = f"version {version.version} from this exact snapshot was already blocked against this champion"
    else:
        return None
    return {
        "champion_version": champion.version if champion else None,
        "promote": False,
        "already_decided": True,
        "metric": ctx.config.primary_metric,
        "challenger_value": None,
        "champion_value": None,
        "interval": None,
        "reason": reason,
    }


def _log_evaluation(
    ctx: StepContext,
    run_id: str,
    holdout: tuple[Any, Any],
    challenger_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    decision: Any,
) -> None:
    from include.retraining.plots import evaluation_figure

    metrics = {f"holdout_{k}": v for k, v in challenger_metrics.items()}
    if champion_metrics:
        metrics.update({f"champion_holdout_{k}": v for k, v in champion_metrics.items()})
    if decision.interval:
        metrics.update(
            {
                "improvement": decision.interval.difference,
                "improvement_lower": decision.interval.lower,
                "improvement_upper": decision.interval.upper,
            }
        )
    tags = {tracking.GATE_TAG: "promote" if decision.promote else "block", tracking.GATE_REASON_TAG: decision.reason}
    ctx.tracker.log_evaluation(run_id, metrics, tags, evaluation_figure(ctx.config.task, *holdout))


def promote_or_block(
    ctx: StepContext, extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]
) -> tuple[dict[str, Any], Alert | None]:
    """Apply the gate's decision to the registry; the alert to send when it blocked."""
    config, run, registry = ctx.config, ctx.run, ctx.registry
    if evaluated.get("already_decided"):
        return {"action": "unchanged", "version": evaluated["champion_version"], "reason": evaluated["reason"]}, None
    action = "promote" if evaluated["promote"] else "block"
    if run.dry_run:
        return {"action": f"dry_run_{action}", "version": None, "reason": evaluated["reason"]}, None
    version_tags = {
        tracking.SNAPSHOT_HASH_TAG: extracted["content_hash"],
        tracking.WINDOW_END_TAG: extracted["window"]["end"],
        tracking.RUN_ID_TAG: run.run_id,
        tracking.TRIGGER_TAG: run.trigger[: tracking.MAX_TAG_CHARS],
    }
    version = registry.register_version(trained["model_uri"], trained["run_id"], version_tags)
    decision_tags = {
        DECISION_TAG: action,
        REASON_TAG: evaluated["reason"][: tracking.MAX_TAG_CHARS],
        DECIDED_BY_TAG: ctx.run_url,
        COMPARED_WITH_TAG: evaluated["champion_version"] or "",
    }
    if evaluated["promote"]:
        previous = registry.promote(version, decision_tags)
        return {"action": "promoted", "version": version, "previous": previous, "reason": evaluated["reason"]}, None
    registry.mark_challenger(version, decision_tags)
    alert = gate_blocked_alert(
        config.name,
        evaluated["reason"],
        {k: evaluated[k] for k in ("metric", "challenger_value", "champion_value", "interval")},
        {
            "Airflow run": ctx.run_url,
            "MLflow run": ctx.tracker.run_link(trained["experiment_id"], trained["run_id"]),
        },
        dedup_key=f"{run.dedup_prefix}/gate",
    )
    return {"action": "blocked", "version": version, "reason": evaluated["reason"]}, alert
