"""The Models page's facts and HTML: read from a registry fake, a SQLite warehouse holding the
promotion log and model_monitoring, and the artifact root; a source that fails is shown as an
error, never as "nothing there"; the Roll back form only for users who may trigger it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.common.settings import load_settings
from include.retraining.config.model import load_model_config
from include.retraining.overview.models import overview
from include.retraining.overview.page import render
from include.retraining.tables import promotions as promotion_log
from include.retraining.tables.monitoring import replace_monitoring_row
from include.retraining.tables.promotions import PromotionAction, PromotionRecord
from include.retraining.tracking.registry import DECISION_TAG, REASON_TAG, Champion, RegistryError

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
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


def _monitoring_row(week: int, value: float, decision: str = "no_drift") -> dict:
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


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings({"RETRAINING_DATA_DIR": str(tmp_path), "RETRAINING_MLFLOW_UI_URL": "http://mlflow.test"})


@pytest.fixture
def warehouse(settings) -> str:
    url = settings.warehouse_default_url
    for move in (
        PromotionRecord("churn", "1", PromotionAction.PROMOTE, "first", at=T0),
        PromotionRecord(
            "churn", "2", PromotionAction.APPROVE, "better", "1", actor="alice", at=T0 + timedelta(weeks=1)
        ),
        PromotionRecord(
            "churn", "3", PromotionAction.REJECT, "rejected by bob", "2", actor="bob", at=T0 + timedelta(weeks=2)
        ),
    ):
        promotion_log.append(url, move)
    for week, value in enumerate([0.81, 0.80, 0.78]):
        replace_monitoring_row(url, _monitoring_row(week, value, "retrain" if week == 2 else "no_drift"))
    return url


def test_the_row_says_who_put_the_champion_there_and_the_latest_decisions(settings, warehouse) -> None:
    registry = FakeRegistry(
        {"champion": "2", "previous_champion": "1"},
        Champion("3", "run3", "models:/churn/3", {DECISION_TAG: "block", REASON_TAG: "rejected by bob"}),
    )

    row = overview(CONFIG, settings, warehouse, registry)

    assert row.errors == []
    assert (row.champion, row.previous_champion, row.rollback_target) == ("2", "1", "1")
    assert row.since.action is PromotionAction.APPROVE and row.since.actor == "alice"
    assert row.since.at == T0 + timedelta(weeks=1)
    assert (row.gate_version, row.gate_decision, row.gate_reason) == ("3", "block", "rejected by bob")
    assert row.drift_decision == "retrain" and row.drift_window_end == T0 + timedelta(weeks=2)
    assert [p.value for p in row.series] == [0.81, 0.80, 0.78]
    assert [r.action.value for r in row.history] == ["reject", "approve", "promote"]
    assert row.links["MLflow model"] == "http://mlflow.test/#/models/churn"


def test_a_registry_that_does_not_answer_is_an_error_not_no_champion(settings, warehouse) -> None:
    row = overview(CONFIG, settings, warehouse, FakeRegistry(error=RegistryError("tracking server down")))

    assert row.champion is None and row.errors[0].startswith("MLflow registry: RegistryError: tracking server down")
    html = render([row], {"churn": True}, "admin")
    assert "unknown: the registry did not answer" in html and "no champion yet" not in html


def test_only_users_who_may_trigger_the_rollback_get_the_form_and_values_are_escaped(settings, warehouse) -> None:
    row = overview(CONFIG, settings, warehouse, FakeRegistry({"champion": "2", "previous_champion": "1"}))

    admin = render([row], {"churn": True}, "admin")
    viewer = render([row], {"churn": False}, "viewer")

    assert 'data-dag="rollback_churn"' in admin and "default v1" in admin
    assert "<form" not in viewer and "read only" in viewer
    assert "<b>drift</b>" not in admin and "&lt;b&gt;drift&lt;/b&gt;" in admin
    assert admin.count("<circle") == 3 and "latest 0.7800" in admin
    assert "since 2026-03-09 03:00 UTC (approve by alice)" in admin
