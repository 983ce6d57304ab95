"""What the Models page shows for one model, gathered from where each fact lives: the registry
(champion, previous champion, the newest version's gate decision), the promotion log (since when
and by whom), the `model_monitoring` table (drift decisions, the live metric on matured labels),
`promotion_outcomes` (whether promotions paid off as the gate promised) and the artifact root (the
latest GX result).

Fail closed: a source that cannot be read is reported on the row as an error, never shown as
"nothing there".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from include.retraining.artifacts import artifact_href, validation_results
from include.retraining.common import Settings, as_utc
from include.retraining.config import ModelConfig
from include.retraining.promotion import calibration
from include.retraining.tables import (
    PromotionAction,
    PromotionOutcomeRow,
    PromotionRecord,
    action_counts,
    history,
    read_monitoring,
    read_outcomes,
)
from include.retraining.tracking import DECISION_TAG, REASON_TAG
from include.retraining.warehouse import Database

HISTORY_ROWS = 5
OUTCOME_ROWS = 3
REGISTRY_ERROR = "MLflow registry"


@dataclass(frozen=True)
class MetricPoint:
    window_end: datetime
    value: float
    champion_version: str


@dataclass
class ModelOverview:
    name: str
    metric: str
    rollback_dag_id: str
    champion: str | None = None
    previous_champion: str | None = None
    since: PromotionRecord | None = None
    gate_version: str | None = None
    gate_decision: str | None = None
    gate_reason: str | None = None
    drift_window_end: datetime | None = None
    drift_decision: str | None = None
    drift_reasons: str | None = None
    drift_share: float | None = None
    drift_detected: bool | None = None
    series: list[MetricPoint] = field(default_factory=list)
    history: list[PromotionRecord] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)  # rows of the promotion log per action
    outcomes: list[PromotionOutcomeRow] = field(default_factory=list)  # newest verified promotions
    # (promotions whose promised lower bound held, promotions verified against a promise)
    calibration: tuple[int, int] = (0, 0)
    links: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def rollback_target(self) -> str | None:
        """What rollback_<model> uses when no version is given: the previous champion."""
        return self.previous_champion


def _attempt(overview: ModelOverview, what: str, read: Callable[[], None]) -> None:
    try:
        read()
    except Exception as exc:  # noqa: BLE001 - shown on the page, never read as "nothing there"
        overview.errors.append(f"{what}: {type(exc).__name__}: {exc}"[:400])


def _registry_facts(overview: ModelOverview, registry: Any) -> None:
    champion, previous = registry.champion(), registry.previous_champion()
    overview.champion = champion.version if champion else None
    overview.previous_champion = previous.version if previous else None
    newest = registry.latest_version()
    if newest is not None:
        overview.gate_version = newest.version
        overview.gate_decision = newest.tags.get(DECISION_TAG)
        overview.gate_reason = newest.tags.get(REASON_TAG)


def _log_facts(overview: ModelOverview, db: Database) -> None:
    overview.history = history(db, overview.name, limit=50)
    moves = [r for r in overview.history if r.action is not PromotionAction.REJECT]
    overview.since = next((r for r in moves if r.to_version == overview.champion), None)
    overview.history = overview.history[:HISTORY_ROWS]
    overview.actions = action_counts(db, overview.name)


def _moment(value: Any) -> datetime:
    """A timestamp as the warehouse hands it back (a datetime, or text on SQLite), tz-aware UTC."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def _monitoring_facts(overview: ModelOverview, db: Database, settings: Settings) -> None:
    frame = read_monitoring(db, overview.name)
    if frame.empty:
        return
    for row in frame.to_dict("records"):
        value = row.get("metric_current")
        if value is not None and value == value:  # NaN: no matured labels that week
            overview.series.append(MetricPoint(_moment(row["window_end"]), float(value), str(row["champion_version"])))
    last = frame.iloc[-1]
    overview.drift_window_end = _moment(last["window_end"])
    overview.drift_decision, overview.drift_reasons = str(last["decision"]), str(last["reasons"] or "")
    share, detected = last.get("drift_share"), last.get("drift_detected")
    overview.drift_share = float(share) if share is not None and share == share else None
    overview.drift_detected = bool(detected) if detected is not None and detected == detected else None
    overview.links["Evidently report"] = artifact_href(
        settings.artifact_root, last.get("report_path"), settings.airflow_base_url
    )


def _outcome_facts(overview: ModelOverview, db: Database) -> None:
    verified = read_outcomes(db, overview.name)
    overview.outcomes = verified[:OUTCOME_ROWS]
    overview.calibration = calibration([row.bound_held for row in verified])


def overview(config: ModelConfig, settings: Settings, db: Database, registry: Any) -> ModelOverview:
    """One model's row, from the registry adapter and the pipeline's tables in `db`."""
    row = ModelOverview(name=config.name, metric=config.primary_metric, rollback_dag_id=config.rollback_dag_id)
    _attempt(row, REGISTRY_ERROR, lambda: _registry_facts(row, registry))
    _attempt(row, "promotion log", lambda: _log_facts(row, db))
    _attempt(row, "model_monitoring", lambda: _monitoring_facts(row, db, settings))
    _attempt(row, "promotion_outcomes", lambda: _outcome_facts(row, db))
    row.links["MLflow model"] = f"{settings.mlflow_ui_base}/#/models/{config.name}"
    results = validation_results(settings.artifact_root, config.name)
    row.links["GX result"] = artifact_href(
        settings.artifact_root, results[-1] if results else None, settings.airflow_base_url
    )
    return row
