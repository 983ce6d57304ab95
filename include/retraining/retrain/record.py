"""What a training run records in MLflow besides the model: tags, params, the config and its
dataset input (the snapshot, identified by its content hash)."""

from __future__ import annotations

import os
import subprocess

import pandas as pd

from include.retraining import tracking
from include.retraining.common import REPO_ROOT, utc_timestamp
from include.retraining.retrain.contracts import Extracted
from include.retraining.runs import StepContext


def _git_commit() -> str | None:
    """The code's commit: the image's (`RETRAINING_GIT_COMMIT`, set at build time), else the checkout's."""
    if baked := os.environ.get("RETRAINING_GIT_COMMIT", "").strip():
        return baked
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def training_record(
    ctx: StepContext,
    extracted: Extracted,
    frame: pd.DataFrame,
    identity: dict[str, str],
    rows: tuple[int, int],
    train_until: pd.Timestamp | None = None,
) -> tracking.TrainingRunLog:
    """`train_until`: the last timestamp of the training split, so the gate knows which later
    rows this model never saw (tag `retraining.train_until`, read by gate pooling)."""
    config, run, window = ctx.config, ctx.run, extracted.window
    commit = _git_commit()
    tags = {
        **identity,
        tracking.SNAPSHOT_PATH_TAG: extracted.path,
        tracking.WINDOW_START_TAG: window.start.isoformat(),
        tracking.WINDOW_END_TAG: window.end.isoformat(),
        tracking.TRIGGER_TAG: run.trigger,
        tracking.DAG_ID_TAG: run.dag_id,
        tracking.RUN_ID_TAG: run.run_id,
        tracking.RUN_URL_TAG: ctx.run_url,
        **({tracking.GIT_COMMIT_TAG: commit} if commit else {}),
        **(
            {tracking.TRAIN_UNTIL_TAG: utc_timestamp(train_until).isoformat()}
            if train_until is not None and pd.notna(train_until)
            else {}
        ),
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
        snapshot_path=extracted.path,
        dataset_name=f"{config.name}-{window.label}",
        target=config.target,
        extra_tags={tracking.CONFIG_HASH_TAG: identity[tracking.CONFIG_HASH_TAG]},
    )
