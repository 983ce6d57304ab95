"""What the Models page shows for a model, gathered from a registry fake, a real SQLite database
holding the promotion log and model_monitoring, and the artifact root; a source that fails is an
error on the row, never "nothing there"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.retraining.common import Settings
from include.retraining.overview import REGISTRY_ERROR, overview
from include.retraining.tables import PromotionAction
from include.retraining.tracking import DECISION_TAG, REASON_TAG, Champion, RegistryError
from include.retraining.warehouse import Database
from tests.unit.overview.support import CONFIG, T0, FakeRegistry

pytestmark = pytest.mark.unit


def test_the_row_says_who_put_the_champion_there_and_the_latest_decisions(settings: Settings, db: Database) -> None:
    registry = FakeRegistry(
        {"champion": "2", "previous_champion": "1"},
        Champion("3", "run3", "models:/churn/3", {DECISION_TAG: "block", REASON_TAG: "rejected by bob"}),
    )

    row = overview(CONFIG, settings, db, registry)

    assert row.errors == []
    assert (row.champion, row.previous_champion, row.rollback_target) == ("2", "1", "1")
    assert row.since.action is PromotionAction.APPROVE and row.since.actor == "alice"
    assert row.since.at == T0 + timedelta(weeks=1)
    assert (row.gate_version, row.gate_decision, row.gate_reason) == ("3", "block", "rejected by bob")
    assert row.drift_decision == "retrain" and row.drift_window_end == T0 + timedelta(weeks=3)
    assert [p.value for p in row.series] == [0.81, 0.80, 0.78]  # the week without matured labels has no point
    assert [r.action.value for r in row.history] == ["reject", "approve", "promote"]
    assert row.links["MLflow model"] == "http://mlflow.test/#/models/churn"


def test_a_registry_that_does_not_answer_is_an_error_not_no_champion(settings: Settings, db: Database) -> None:
    row = overview(CONFIG, settings, db, FakeRegistry(error=RegistryError("tracking server down")))

    assert row.champion is None and row.since is None
    assert row.errors == [f"{REGISTRY_ERROR}: RegistryError: tracking server down"]
    assert row.drift_decision == "retrain" and len(row.history) == 3  # the other sources still answer


def test_a_database_that_does_not_answer_is_an_error_not_no_history(settings: Settings) -> None:
    unreachable = Database("postgresql+psycopg2://reader:pw-5e1d@127.0.0.1:9/warehouse")  # nothing on port 9

    row = overview(CONFIG, settings, unreachable, FakeRegistry({"champion": "2"}))

    assert [error.split(":", 1)[0] for error in row.errors] == [
        "promotion log",
        "model_monitoring",
        "promotion_outcomes",
    ]
    assert all("pw-5e1d" not in error for error in row.errors)
    assert row.champion == "2" and row.history == [] and row.drift_decision is None


def test_a_new_model_has_nothing_yet_and_no_error(settings: Settings) -> None:
    row = overview(CONFIG, settings, Database(settings.warehouse_default_url), FakeRegistry())

    assert row.errors == [] and row.champion is None and row.since is None and row.gate_version is None
    assert row.series == [] and row.history == [] and row.drift_window_end is None
    assert row.links["GX result"] == ""


def test_verified_promotions_come_newest_first_with_the_share_whose_promise_held(
    settings: Settings, db: Database
) -> None:
    from dataclasses import replace

    from include.retraining.tables import record_outcome
    from tests.unit.tables.test_outcomes import _row as outcome

    for promotion_id, held, verdict in (
        (2, True, "held"),
        (5, None, "unpromised"),
        (7, False, "short"),
        (9, True, "held"),
    ):
        record_outcome(db, replace(outcome(promotion_id), bound_held=held, verdict=verdict))

    row = overview(CONFIG, settings, db, FakeRegistry({"champion": "2"}))

    assert [o.promotion_id for o in row.outcomes] == [9, 7, 5]  # the newest three
    assert row.calibration == (2, 3) and row.errors == []
