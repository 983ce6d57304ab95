"""Monitoring what was served: the predictions `score_<model>` wrote, and the labels that came after.

`current` keeps two files of the predictions table beside the window: the champion's served
scores of the current window (prediction drift is computed from them) and every alias's served
rows of the matured window joined with the labels that have arrived (performance). Performance is
per model version, on that version's own served rows only: a version that served nothing in the
window gets no figure. A version's metric needs `labels.min_coverage` of its served rows labelled
and `monitor.min_rows` labelled rows; the unlabelled rest is counted (coverage), never an error.
A shadow challenger (alias `challenger`) is set beside the champion on the rows both scored.
Where nothing was served, the monitor falls back to scoring the window itself ("rescored").
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.artifacts import ArtifactPath, read_snapshot, write_parquet_atomic
from include.retraining.common import Window
from include.retraining.config import ModelConfig
from include.retraining.monitor.contracts import (
    CurrentWindow,
    DriftResult,
    Performance,
    Reference,
    ServedFigures,
    ShadowFigures,
)
from include.retraining.predictions import (
    LABEL_CONFLICT,
    PREDICTED_CLASS,
    PROBABILITIES,
    probabilities_frame,
    read_served,
    read_served_with_labels,
)
from include.retraining.runs import StepContext
from include.retraining.warehouse import HASH_SPACE

SERVED, RESCORED = "served", "rescored"
CHAMPION, CHALLENGER = "champion", "challenger"
_KEYS = ["id", "event_time", "source"]  # a REST and a batch row of one id are two predictions


def served_windows(
    ctx: StepContext,
    window: Window,
    matured: Window,
    folder: ArtifactPath,
    below: tuple[int, int] = (HASH_SPACE, HASH_SPACE),
) -> dict[str, Any]:
    """The `served_current` / `served_matured` of `CurrentWindow`: Parquet paths, or None when
    nothing was served in that window. `below` holds the hash thresholds the two source windows
    were read below, so a sampled window's served rows are those of the same ids. The predictions
    are the pipeline database's; the labels the source's (the warehouse's)."""
    db, config = ctx.pipeline_db, ctx.config
    current = read_served(db, config, window.start, window.end, alias=CHAMPION, below=below[0])
    labelled = read_served_with_labels(db, config, matured.start, matured.end, below=below[1], labels=ctx.warehouse)
    return {
        "served_current": _keep(current, folder / "served_current.parquet"),
        "served_matured": _keep(labelled, folder / "served_matured.parquet"),
    }


def _keep(frame: pd.DataFrame, path: ArtifactPath) -> str | None:
    return str(write_parquet_atomic(frame, path)) if len(frame) else None


def served_scores(cur: CurrentWindow, ref: Reference) -> np.ndarray | None:
    """The scores the monitored champion version served in the current window (a multiclass
    model's predicted classes: only its reads hold them); None when it served nothing there (the
    caller then scores the window itself)."""
    if not cur.served_current:
        return None
    frame = read_snapshot(cur.served_current)
    rows = frame[(frame["alias"] == CHAMPION) & (frame["model_version"] == ref.version)]
    if PREDICTED_CLASS in frame:
        classes = rows[PREDICTED_CLASS]
        return classes.to_numpy(dtype=object) if len(classes) and classes.notna().all() else None
    return rows["score"].to_numpy(dtype="float64") if len(rows) else None


def served_performance(config: ModelConfig, ref: Reference, cur: CurrentWindow) -> Performance | None:
    """The champion's metric on its own served predictions of the matured window, with every
    version's figures and the shadow challenger beside it; None when nothing was served there."""
    if not cur.served_matured:
        return None
    frame = read_snapshot(cur.served_matured)
    versions = [
        _figures(config, rows, alias, version) for (alias, version), rows in frame.groupby(["alias", "model_version"])
    ]
    champion_rows = frame[frame["alias"] == CHAMPION]
    own = next((f for f in versions if f.alias == CHAMPION and f.version == ref.version), None)
    holdout, value = ref.holdout_metric, own.value if own else None
    drop = None
    if value is not None and holdout is not None:
        drop = holdout - value if config.higher_is_better else value - holdout
    return Performance(
        metric=config.primary_metric,
        holdout_value=holdout,
        rows=own.labelled if own else 0,
        current_value=value,
        drop=drop,
        source=SERVED,
        note=_note(ref, own),
        coverage=_share(champion_rows["label"].notna().sum(), len(champion_rows)),
        rows_served=len(champion_rows),
        versions=versions,
        shadow=_shadows(config, frame),
    )


def _note(ref: Reference, own: ServedFigures | None) -> str:
    if own is None:
        return f"champion version {ref.version} served nothing in the matured window: no performance figure"
    if own.value is None:
        return own.note
    if ref.holdout_metric is None:
        return "no holdout value to compare with"
    return own.note  # empty, or the labels a multiclass champion never learned


def _share(part: int, whole: int) -> float | None:
    return float(part) / whole if whole else None


def _figures(config: ModelConfig, rows: pd.DataFrame, alias: str, version: str) -> ServedFigures:
    """A version's figures; predictions with conflicting labels count as unlabelled, and are counted."""
    labelled = rows.dropna(subset=["label"])
    coverage = _share(len(labelled), len(rows)) or 0.0
    value, why = _metric(config, labelled, "", coverage)
    conflicts = int(rows[LABEL_CONFLICT].sum()) if LABEL_CONFLICT in rows else 0
    return ServedFigures(str(alias), str(version), len(rows), len(labelled), coverage, value, why, conflicts)


def _metric(config: ModelConfig, labelled: pd.DataFrame, suffix: str, coverage: float) -> tuple[float | None, str]:
    """The primary metric on labelled rows' scores (`score` + `suffix`, a multiclass model's class
    probabilities), or None and why not (coverage, rows, one class)."""
    from include.retraining.learning import metric_value, unknown_labels_note

    labels, monitor = config.labels, config.monitor
    if coverage < labels.min_coverage:
        return None, f"label coverage {coverage:.2f} < labels.min_coverage={labels.min_coverage}"
    if len(labelled) < monitor.min_rows:
        return None, f"{len(labelled)} labelled rows < monitor.min_rows={monitor.min_rows}"
    y = labelled["label"].to_numpy(dtype=object if config.task == "multiclass" else "float64")
    if config.task != "regression" and pd.Series(y).nunique() < 2:
        return None, "the labels that arrived hold one class only"
    if config.task != "multiclass":
        return metric_value(config.primary_metric, y, labelled["score" + suffix].to_numpy(dtype="float64")), ""
    served = labelled[PROBABILITIES + suffix]
    if served.isna().any():  # rows a version served before the model was multiclass
        return None, f"{int(served.isna().sum())} served rows hold no class probabilities"
    scores = probabilities_frame(served)
    return metric_value(config.primary_metric, y, scores), unknown_labels_note(y, scores)


def _shadows(config: ModelConfig, frame: pd.DataFrame) -> list[ShadowFigures]:
    """Each challenger version beside the champion on the labelled rows both of them scored."""
    champion = frame[frame["alias"] == CHAMPION]
    shadows: list[ShadowFigures] = []
    for version, rows in frame[frame["alias"] == CHALLENGER].groupby("model_version"):
        paired = rows.merge(champion, on=[k for k in _KEYS if k in frame], suffixes=("_challenger", "_champion"))
        labelled = paired.dropna(subset=["label_challenger"]).rename(columns={"label_challenger": "label"})
        coverage = _share(len(labelled), len(rows)) or 0.0
        champion_value, why = _metric(config, labelled, "_champion", coverage)
        challenger_value, _ = _metric(config, labelled, "_challenger", coverage)
        champions = sorted(set(labelled["model_version_champion"].astype(str)))
        shadows.append(ShadowFigures(str(version), champions, len(labelled), champion_value, challenger_value, why))
    return shadows


def record_columns(drift: DriftResult, perf: Performance) -> dict[str, Any]:
    """The served-prediction columns of a `model_monitoring` row (NULL where they do not apply)."""
    shadow = perf.shadow[-1] if perf.shadow else None
    return {
        "prediction_source": drift.prediction_source,
        "performance_source": perf.source,
        "rows_served": perf.rows_served,
        "label_coverage": perf.coverage,
        "challenger_version": shadow.challenger_version if shadow else None,
        "challenger_metric": shadow.challenger_value if shadow else None,
        "champion_shadow_metric": shadow.champion_value if shadow else None,
        "served_figures": json.dumps(
            {"versions": [v.to_dict() for v in perf.versions], "shadow": [s.to_dict() for s in perf.shadow]}
        ),
    }


def record_metrics(perf: Performance) -> dict[str, float]:
    """MLflow metrics of the served figures: coverage, and each version's and shadow's metric."""
    metric = perf.metric
    metrics = {"label_coverage": perf.coverage} if perf.coverage is not None else {}
    for figures in perf.versions:
        if figures.value is not None:
            metrics[f"served.{figures.alias}.v{figures.version}.{metric}"] = figures.value
    for shadow in perf.shadow:
        for side, value in (("champion", shadow.champion_value), ("challenger", shadow.challenger_value)):
            if value is not None:
                metrics[f"shadow.v{shadow.challenger_version}.{side}_{metric}"] = value
    return metrics
