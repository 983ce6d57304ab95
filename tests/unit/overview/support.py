"""The overview tests' registry fake and the SQLite pipeline database they share (conftest.py):
a promotion log of three moves and four weeks of `model_monitoring`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from include.retraining.config import load_model_config
from include.retraining.tables import PromotionAction, PromotionRecord, append_once, replace_monitoring_row
from include.retraining.tracking import Champion
from include.retraining.warehouse import Database

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
T0 = datetime(2026, 3, 2, 3, tzinfo=UTC)


@dataclass
class FakeRegistry:
    aliases: dict[str, str] = field(default_factory=dict)
    newest: Champion | None = None
    error: Exception | None = None

    def _alias(self, alias: str) -> Champion | None:
        if self.error:
            raise self.error
        version = self.aliases.get(alias)
        return Champion(version, "run", f"models:/churn@{alias}", {}) if version else None

    def champion(self) -> Champion | None:
        return self._alias("champion")

    def previous_champion(self) -> Champion | None:
        return self._alias("previous_champion")

    def latest_version(self) -> Champion | None:
        return self.newest


def monitoring_row(week: int, value: float | None, decision: str = "no_drift") -> dict:
    end = (T0 + timedelta(weeks=week)).replace(tzinfo=None)
    return {
        "model": "churn",
        "window_start": end - timedelta(days=7),
        "window_end": end,
        "airflow_run_id": f"r{week}",
        "champion_version": "1",
        "rows_current": 100,
        "rows_matured": 100,
        "drift_share": 0.0,
        "drifted_columns": "",
        "prediction_psi": 0.01,
        "metric": "roc_auc",
        "metric_holdout": 0.8,
        "metric_current": value,
        "performance_drop": 0.0,
        "drift_detected": False,
        "decision": decision,
        "reasons": "no drift" if decision == "no_drift" else "<b>drift</b> in monthly_charges",
        "report_path": "",
    }


def seed(db: Database) -> Database:
    """The log and the monitoring weeks every overview test reads."""
    for move in (
        PromotionRecord("churn", "1", PromotionAction.PROMOTE, "first", at=T0),
        PromotionRecord(
            "churn", "2", PromotionAction.APPROVE, "better", "1", actor="alice", at=T0 + timedelta(weeks=1)
        ),
        PromotionRecord(
            "churn", "3", PromotionAction.REJECT, "rejected by bob", "2", actor="bob", at=T0 + timedelta(weeks=2)
        ),
    ):
        append_once(db, move)
    for week, value in enumerate([0.81, None, 0.80, 0.78]):  # week 1: no matured labels yet
        replace_monitoring_row(db, monitoring_row(week, value, "retrain" if week == 3 else "no_drift"))
    return db
