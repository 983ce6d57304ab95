"""Rolling `champion` back by hand: the rollback's checks, one log row then the move, a retry
that neither moves again nor logs twice, against a registry fake that moves aliases and a real
SQLite promotion log. The move path itself is tested in test_moves.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.promotion import RollbackRefused, RollbackRequest, parse_version, roll_back, rolled_back_alert
from include.retraining.tables import PromotionAction, PromotionRecord, history
from include.retraining.tracking import DAG_ID_TAG, UnusableModelError
from tests.unit.promotion.fakes import MovingRegistry, VersionTracker, context, log_db

pytestmark = pytest.mark.unit


@pytest.fixture
def registry() -> MovingRegistry:
    """Versions 1..3 of churn; 3 is champion, 2 previous_champion."""
    return MovingRegistry(
        versions={"1": "run-1", "2": "run-2", "3": "run-3"}, aliases={"champion": "3", "previous_champion": "2"}
    )


def _rows(tmp_path: Path) -> list[PromotionRecord]:
    return history(log_db(tmp_path), "churn")


def test_a_rollback_to_previous_champion_logs_one_row_then_moves(tmp_path: Path, registry) -> None:
    ctx = context(tmp_path, registry)
    done = roll_back(ctx, RollbackRequest(None, "  v3 lost 4 points of recall "))

    assert registry.aliases == {"champion": "2", "previous_champion": "3"}
    (row,) = _rows(tmp_path)
    assert (row.from_version, row.to_version, row.action, row.actor) == ("3", "2", PromotionAction.ROLLBACK, "alice")
    assert row.reason == "v3 lost 4 points of recall" and row.run_url.endswith("/dags/rollback_churn/runs/manual__1")
    assert (done.from_version, done.to_version, done.log_id) == ("3", "2", row.id)
    alert = rolled_back_alert(ctx, done)
    assert alert.title == "churn: champion rolled back to version 2" and "(rollback, by alice)" in alert.lines[0]
    assert alert.figures == {"from_version": "3", "to_version": "2", "log_id": row.id}


def test_a_retried_rollback_neither_moves_again_nor_logs_twice(tmp_path: Path, registry) -> None:
    ctx = context(tmp_path, registry)
    first = roll_back(ctx, RollbackRequest(None, "bad"))
    again = roll_back(ctx, RollbackRequest(None, "bad"))

    assert again == first and registry.moves == ["2"] and len(_rows(tmp_path)) == 1


@pytest.mark.parametrize(
    ("to_version", "message"),
    [
        ("fraud/2", "names model 'fraud'; rollback_churn only moves the champion of 'churn'"),
        ("models:/fraud/1", "use rollback_fraud"),
        ("7", "has no version 7 in the MLflow registry"),
        ("3", "version 3 is already the champion"),
        ("v3", "version 3 is already the champion"),
        ("latest", "is not a version number"),
    ],
)
def test_bad_targets_are_refused_with_the_reason_and_nothing_moves(
    tmp_path: Path, registry, to_version: str, message: str
) -> None:
    with pytest.raises(RollbackRefused, match=message):
        roll_back(context(tmp_path, registry), RollbackRequest(to_version, "bad"))

    assert registry.aliases["champion"] == "3" and _rows(tmp_path) == []


def test_another_models_run_registered_here_and_an_unloadable_version_are_refused(tmp_path: Path, registry) -> None:
    tracker = VersionTracker(
        models={"models:/churn/2": UnusableModelError("model.skops: BadZipFile")},
        tags={"run-1": {DAG_ID_TAG: "retrain_fraud"}},
    )
    with pytest.raises(RollbackRefused, match="trained by retrain_fraud, not retrain_churn"):
        roll_back(context(tmp_path, registry, tracker), RollbackRequest("1", "bad"))
    with pytest.raises(RollbackRefused, match="version 2 cannot be loaded .*BadZipFile"):
        roll_back(context(tmp_path, registry, tracker), RollbackRequest("2", "bad"))
    assert registry.moves == [] and _rows(tmp_path) == []


def test_no_reason_no_champion_or_no_previous_champion_is_refused(tmp_path: Path, registry) -> None:
    with pytest.raises(RollbackRefused, match="param reason is required"):
        roll_back(context(tmp_path, registry), RollbackRequest("2", " "))
    with pytest.raises(RollbackRefused, match="has no previous_champion"):
        roll_back(
            context(tmp_path, MovingRegistry(versions={"1": "r"}, aliases={"champion": "1"})),
            RollbackRequest(None, "x"),
        )
    with pytest.raises(RollbackRefused, match="has no champion"):
        roll_back(context(tmp_path, MovingRegistry(versions={"1": "r"})), RollbackRequest("1", "x"))


def test_version_forms() -> None:
    assert [parse_version("churn", raw) for raw in ("3", " v3", "models:/churn/3", "churn/03", "churn:3")] == ["3"] * 5
