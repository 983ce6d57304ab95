"""The pipeline's state as Prometheus metrics (text exposition format 0.0.4), from the same rows as
the Models page: champion and since when, the latest drift verdict and drift share, the served
metric on matured labels, the promotion log's moves, the alert outbox's backlog and the model
files that failed to load.

Read from the pipeline's tables and the registry when scraped, never pushed from a task: every
worker on every host writes the same tables, so one scrape of the API server sees the whole
deployment, and a figure is never lost with the process that would have pushed it. A source that
cannot be read is counted in `retraining_read_errors`, never exported as a zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from include.retraining.overview.models import ModelOverview

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name -> (type, help); the order here is the order of the exposition.
FAMILIES: dict[str, tuple[str, str]] = {
    "retraining_models": ("gauge", "Model files loaded from the models folder."),
    "retraining_model_file_errors": ("gauge", "Model files that failed to load (their DAGs are missing)."),
    "retraining_model_info": ("gauge", "One per model: its primary metric, champion and previous champion."),
    "retraining_champion_version": ("gauge", "The registered-model version behind alias champion."),
    "retraining_champion_since_timestamp_seconds": ("gauge", "When the champion was put there (promotion log)."),
    "retraining_gate_decision": ("gauge", "The newest version's gate decision (1 per model: version, decision)."),
    "retraining_promotion_log_rows_total": ("counter", "Rows of the promotion log, per action."),
    "retraining_monitor_window_end_timestamp_seconds": ("gauge", "End of the latest window the monitor judged."),
    "retraining_drift_detected": ("gauge", "1 when the monitor's latest window drifted, else 0."),
    "retraining_drift_share": ("gauge", "Share of the features that drifted in the monitor's latest window."),
    "retraining_served_metric": ("gauge", "The primary metric of the served model on matured labels, latest window."),
    "retraining_served_metric_window_end_timestamp_seconds": ("gauge", "End of the window of that served metric."),
    "retraining_promotions_verified": ("gauge", "Promotions checked on matured labels against a promise (the gate's)."),
    "retraining_promotions_bound_held": ("gauge", "Of those, promotions whose promised lower bound held."),
    "retraining_promotion_verdict": ("gauge", "The newest verified promotion's verdict (1 per model)."),
    "retraining_alerts": ("gauge", "Alerts in the outbox, per delivery status."),
    "retraining_read_errors": ("gauge", "Sources that could not be read for this scrape, per model and source."),
}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _line(sample: Sample) -> str:
    labels = ",".join(f'{key}="{_escape(value)}"' for key, value in sample.labels)
    return f"{sample.name}{{{labels}}} {_number(sample.value)}" if labels else f"{sample.name} {_number(sample.value)}"


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _version(version: str) -> float | None:
    """MLflow versions are integers; anything else is left to `retraining_model_info`."""
    return float(version) if version.isdigit() else None


def _source(error: str) -> str:
    """The part of an overview error before its first colon: the source that failed."""
    return error.split(":", 1)[0].strip() or "unknown"


def model_samples(row: ModelOverview) -> Iterable[Sample]:
    model = ("model", row.name)
    yield Sample(
        "retraining_model_info",
        (
            model,
            ("metric", row.metric),
            ("champion", row.champion or ""),
            ("previous_champion", row.previous_champion or ""),
        ),
        1,
    )
    if row.champion is not None and (version := _version(row.champion)) is not None:
        yield Sample("retraining_champion_version", (model,), version)
    if row.since is not None and row.since.at is not None:
        yield Sample("retraining_champion_since_timestamp_seconds", (model,), _seconds(row.since.at))
    if row.gate_version is not None:
        labels = (model, ("version", row.gate_version), ("decision", row.gate_decision or "none"))
        yield Sample("retraining_gate_decision", labels, 1)
    for action, count in sorted(row.actions.items()):
        yield Sample("retraining_promotion_log_rows_total", (model, ("action", action)), count)
    if row.drift_window_end is not None:
        yield Sample("retraining_monitor_window_end_timestamp_seconds", (model,), _seconds(row.drift_window_end))
    if row.drift_detected is not None:
        yield Sample("retraining_drift_detected", (model,), 1 if row.drift_detected else 0)
    if row.drift_share is not None:
        yield Sample("retraining_drift_share", (model,), row.drift_share)
    if row.series:
        last = row.series[-1]
        yield Sample("retraining_served_metric", (model, ("metric", row.metric)), last.value)
        yield Sample("retraining_served_metric_window_end_timestamp_seconds", (model,), _seconds(last.window_end))
    if row.outcomes:
        held, promised = row.calibration
        yield Sample("retraining_promotions_verified", (model,), promised)
        yield Sample("retraining_promotions_bound_held", (model,), held)
        newest = row.outcomes[0]
        labels = (model, ("version", newest.to_version), ("verdict", newest.verdict))
        yield Sample("retraining_promotion_verdict", labels, 1)
    for source in sorted({_source(error) for error in row.errors}):
        yield Sample("retraining_read_errors", (model, ("source", source)), 1)


def exposition(
    rows: Sequence[ModelOverview],
    *,
    file_errors: int,
    alerts: Mapping[str, int] | None,
    alerts_error: str | None = None,
) -> str:
    """The whole scrape: one HELP and TYPE per family that has samples, then its samples.

    `alerts` is the outbox's count per status, None when it could not be read (`alerts_error`)."""
    samples: list[Sample] = [
        Sample("retraining_models", (), len(rows)),
        Sample("retraining_model_file_errors", (), file_errors),
    ]
    for row in rows:
        samples.extend(model_samples(row))
    if alerts is not None:
        samples.extend(Sample("retraining_alerts", (("status", status),), n) for status, n in sorted(alerts.items()))
    elif alerts_error is not None:
        samples.append(Sample("retraining_read_errors", (("model", ""), ("source", "alert outbox")), 1))
    lines: list[str] = []
    for name, (kind, help_text) in FAMILIES.items():
        family = [s for s in samples if s.name == name]
        if family:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *map(_line, family)]
    return "\n".join(lines) + "\n"
