"""The retraining steps, one function per DAG task, each taking and returning plain references.

A step reads what the previous one wrote (a snapshot path, an MLflow run id), so a retry or a
rerun of the same window repeats the same work and finds what it already did instead of
duplicating it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from include.retraining import registry
from include.retraining.alerts import Alert, gate_blocked_alert
from include.retraining.config import ModelConfig
from include.retraining.settings import REPO_ROOT, Settings
from include.retraining.snapshots import read_snapshot, write_snapshot
from include.retraining.training import TrainingDataError, check_trainable
from include.retraining.windows import Window, training_window

SNAPSHOT_PATH_TAG = "retraining.snapshot_path"
SNAPSHOT_HASH_TAG = "retraining.snapshot_hash"
CONFIG_HASH_TAG = "retraining.config_hash"
COMPARED_WITH_TAG = "retraining.compared_with_version"


@dataclass(frozen=True)
class RunInfo:
    """Who is running: the orchestrator's identity of this run, passed in from outside."""

    dag_id: str
    run_id: str
    window_end: datetime
    trigger: str = "schedule"
    dry_run: bool = False

    def airflow_url(self, settings: Settings) -> str:
        return f"{settings.airflow_base_url}/dags/{self.dag_id}/runs/{self.run_id}"


def config_hash(config: ModelConfig) -> str:
    """Hash of what shapes a trained model, so a rerun with the same data and config is the same run."""
    relevant = config.model_dump(include={"task", "source", "target", "features", "training"})
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _window_from(extracted: dict[str, Any]) -> Window:
    return Window(
        datetime.fromisoformat(extracted["window"]["start"]), datetime.fromisoformat(extracted["window"]["end"])
    )


def extract(config: ModelConfig, settings: Settings, run: RunInfo, warehouse_url: str) -> dict[str, Any]:
    """Read the training window and write it as a content-addressed snapshot."""
    from include.retraining.warehouse import read_window

    window = training_window(run.window_end, config.training.window_days, config.training.label_delay_days)
    columns = [config.source.timestamp_column, config.target, *config.features.columns]
    if config.source.id_column:
        columns.insert(0, config.source.id_column)
    frame = read_window(warehouse_url, config.source, columns, window.start, window.end, model=config.name)
    if len(frame) < config.training.min_rows:
        raise TrainingDataError(
            f"model {config.name!r}: the window {window.start:%Y-%m-%d %H:%M} .. {window.end:%Y-%m-%d %H:%M} "
            f"has {len(frame)} rows, fewer than training.min_rows={config.training.min_rows}; "
            "check that the upstream load ran, or widen training.window_days"
        )
    snapshot = write_snapshot(frame, settings.artifact_root, config.name, window)
    return {**snapshot.to_dict(), "window": window.to_dict()}


def champion_snapshot(client: Any, champion: registry.Champion) -> pd.DataFrame | None:
    """The champion's training rows: the local snapshot if still there, else the run's copy."""
    tags = registry.run_tags(client, champion.run_id)
    local = tags.get(SNAPSHOT_PATH_TAG)
    if local and Path(local).exists():
        return read_snapshot(local)
    import mlflow

    try:
        folder = mlflow.artifacts.download_artifacts(run_id=champion.run_id, artifact_path="snapshot")
    except Exception:  # noqa: BLE001 - a champion without a stored snapshot is usable, just not learnable
        return None
    files = sorted(Path(folder).glob("*.parquet"))
    return read_snapshot(files[0]) if files else None


def validate(config: ModelConfig, settings: Settings, extracted: dict[str, Any]) -> dict[str, Any]:
    """Raises DataValidationError (with the report) when the window fails the suite."""
    from include.retraining.validation import profile_reference, validate_or_raise

    client = registry.configure(settings)
    champion = registry.get_champion(client, config.name)
    reference = champion_snapshot(client, champion) if champion else None
    profile = profile_reference(reference, config) if reference is not None else None
    out_dir = settings.artifact_root / config.name / "validation" / _window_from(extracted).label
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


def train(config: ModelConfig, settings: Settings, run: RunInfo, extracted: dict[str, Any]) -> dict[str, Any]:
    """Fit on the snapshot's training split and log everything to MLflow; reuse an identical run."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from include.retraining.training import SKOPS_TRUSTED_TYPES, fit, split_by_time

    client = registry.configure(settings)
    experiment_id = registry.ensure_experiment(client, config.name, settings)
    identity = {SNAPSHOT_HASH_TAG: extracted["content_hash"], CONFIG_HASH_TAG: config_hash(config)}
    existing = registry.find_finished_run(client, experiment_id, identity)
    if existing:
        tags = registry.run_tags(client, existing)
        return {
            "run_id": existing,
            "experiment_id": experiment_id,
            "model_uri": tags["retraining.model_uri"],
            "reused": True,
        }

    frame = read_snapshot(extracted["path"])
    check_trainable(frame, config)
    split = split_by_time(frame, config)
    window = _window_from(extracted)
    # Numeric features as floats in the signature: an integer column cannot carry a missing
    # value, and serving-time nulls must be accepted (the pipeline imputes them).
    features = split.train[config.features.columns].astype({c: "float64" for c in config.features.numeric})
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train {window.label}") as active:
        mlflow.set_tags(
            {
                **identity,
                SNAPSHOT_PATH_TAG: extracted["path"],
                "retraining.window_start": window.start.isoformat(),
                "retraining.window_end": window.end.isoformat(),
                "retraining.trigger": run.trigger,
                "airflow.dag_id": run.dag_id,
                "airflow.run_id": run.run_id,
                "airflow.run_url": run.airflow_url(settings),
                **({"mlflow.source.git.commit": commit} if (commit := _git_commit()) else {}),
            }
        )
        mlflow.log_params(
            {
                "estimator": config.training.estimator,
                **{f"estimator.{k}": v for k, v in config.training.params.items()},
                "window_days": config.training.window_days,
                "label_delay_days": config.training.label_delay_days,
                "holdout_fraction": config.training.holdout_fraction,
                "rows_train": len(split.train),
                "rows_holdout": len(split.holdout),
            }
        )
        mlflow.log_text(json.dumps(config.model_dump(mode="json"), indent=2), "config/model.json")
        mlflow.log_input(
            mlflow.data.from_pandas(
                frame, source=extracted["path"], name=f"{config.name}-{window.label}", targets=config.target
            ),
            context="training",
        )
        mlflow.log_artifact(extracted["path"], artifact_path="snapshot")
        model = fit(config, split.train)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features.head(100), model.predict(features.head(100))),
            input_example=features.head(3),
            code_paths=[str(REPO_ROOT / "include")],
            pip_requirements=_pip_requirements(),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
        mlflow.set_tag("retraining.model_uri", info.model_uri)
        mlflow.set_tag(CONFIG_HASH_TAG, identity[CONFIG_HASH_TAG])
    return {"run_id": active.info.run_id, "experiment_id": experiment_id, "model_uri": info.model_uri, "reused": False}


def _pip_requirements() -> list[str]:
    # Pinned from the running environment: inference spawns a subprocess and takes seconds.
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("scikit-learn", "pandas", "numpy", "mlflow", "pyarrow", "skops")]


def evaluate(
    config: ModelConfig, settings: Settings, extracted: dict[str, Any], trained: dict[str, Any]
) -> dict[str, Any]:
    """Score challenger and champion on the same holdout; the gate's decision with its figures."""
    import mlflow
    import mlflow.sklearn

    from include.retraining.evaluation import check_holdout, compute_metrics
    from include.retraining.gate import judge
    from include.retraining.training import predict_scores, split_by_time

    client = registry.configure(settings)
    champion = registry.get_champion(client, config.name)
    decided = _already_decided(client, config, trained, champion)
    if decided is not None:
        return decided
    holdout = split_by_time(read_snapshot(extracted["path"]), config).holdout.dropna(subset=[config.target])
    y = holdout[config.target].to_numpy()
    check_holdout(config.name, config.task, y)
    X = holdout[config.features.columns]
    challenger_scores = predict_scores(mlflow.sklearn.load_model(trained["model_uri"]), X, config.task)
    challenger_metrics = compute_metrics(config.task, y, challenger_scores)
    result: dict[str, Any] = {"champion_version": champion.version if champion else None}
    champion_metrics, champion_scores = None, None
    if champion is not None:
        champion_scores = predict_scores(mlflow.sklearn.load_model(champion.model_uri), X, config.task)
        champion_metrics = compute_metrics(config.task, y, champion_scores)
    decision = judge(config, y, challenger_scores, champion_scores, challenger_metrics, champion_metrics)
    _log_evaluation(trained["run_id"], config, y, challenger_scores, challenger_metrics, champion_metrics, decision)
    return {
        **result,
        **decision.to_dict(),
        "already_decided": False,
        "challenger_metrics": challenger_metrics,
        "champion_metrics": champion_metrics,
    }


def _already_decided(
    client: Any, config: ModelConfig, trained: dict[str, Any], champion: registry.Champion | None
) -> dict[str, Any] | None:
    """A rerun of a snapshot the gate already judged against this same champion decides nothing
    new: no second evaluation, no second alert."""
    if not trained.get("reused"):
        return None
    version = registry.version_for_run(client, config.name, trained["run_id"])
    if version is None:
        return None
    if champion is not None and champion.run_id == trained["run_id"]:
        reason = f"version {champion.version} trained on this exact snapshot is already champion"
    elif version.tags.get("retraining.decision") == "block" and version.tags.get(COMPARED_WITH_TAG) == (
        champion.version if champion else ""
    ):
        reason = f"version {version.version} from this exact snapshot was already blocked against this champion"
    else:
        return None
    return {
        "champion_version": champion.version if champion else None,
        "promote": False,
        "already_decided": True,
        "metric": config.primary_metric,
        "challenger_value": None,
        "champion_value": None,
        "interval": None,
        "reason": reason,
    }


def _log_evaluation(run_id, config, y, scores, challenger_metrics, champion_metrics, decision) -> None:  # noqa: ANN001
    import mlflow

    from include.retraining.plots import evaluation_figure

    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"holdout_{k}": v for k, v in challenger_metrics.items()})
        if champion_metrics:
            mlflow.log_metrics({f"champion_holdout_{k}": v for k, v in champion_metrics.items()})
        if decision.interval:
            mlflow.log_metrics(
                {
                    "improvement": decision.interval.difference,
                    "improvement_lower": decision.interval.lower,
                    "improvement_upper": decision.interval.upper,
                }
            )
        mlflow.set_tags(
            {
                "retraining.gate": "promote" if decision.promote else "block",
                "retraining.gate_reason": decision.reason[:5000],
            }
        )
        mlflow.log_figure(evaluation_figure(config.task, y, scores), "evaluation/holdout.png")


def promote_or_block(
    config: ModelConfig,
    settings: Settings,
    run: RunInfo,
    extracted: dict[str, Any],
    trained: dict[str, Any],
    evaluated: dict[str, Any],
) -> tuple[dict[str, Any], Alert | None]:
    """Apply the gate's decision to the registry; the alert to send when it blocked."""
    client = registry.configure(settings)
    if evaluated.get("already_decided"):
        return {"action": "unchanged", "version": evaluated["champion_version"], "reason": evaluated["reason"]}, None
    action = "promote" if evaluated["promote"] else "block"
    if run.dry_run:
        return {"action": f"dry_run_{action}", "version": None, "reason": evaluated["reason"]}, None
    version_tags = {
        SNAPSHOT_HASH_TAG: extracted["content_hash"],
        "retraining.window_end": extracted["window"]["end"],
        "airflow.run_id": run.run_id,
        "retraining.trigger": run.trigger[:5000],
    }
    version = registry.register_version(client, config.name, trained["model_uri"], trained["run_id"], version_tags)
    decision_tags = {
        "retraining.decision": action,
        "retraining.reason": evaluated["reason"][:5000],
        "retraining.decided_by_run": run.airflow_url(settings),
        COMPARED_WITH_TAG: evaluated["champion_version"] or "",
    }
    if evaluated["promote"]:
        previous = registry.promote(client, config.name, version, decision_tags)
        return {"action": "promoted", "version": version, "previous": previous, "reason": evaluated["reason"]}, None
    registry.mark_challenger(client, config.name, version, decision_tags)
    alert = gate_blocked_alert(
        config.name,
        evaluated["reason"],
        {k: evaluated[k] for k in ("metric", "challenger_value", "champion_value", "interval")},
        {
            "Airflow run": run.airflow_url(settings),
            "MLflow run": registry.run_link(settings, trained["experiment_id"], trained["run_id"]),
        },
        dedup_key=f"{run.dag_id}/{run.run_id}/gate",
    )
    return {"action": "blocked", "version": version, "reason": evaluated["reason"]}, alert
