"""The one move path (log row first, alias after, a lost move completed) and the rollback's
checks, against a registry fake that moves aliases and a real SQLite promotion log."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.promotion.moves import Reconciled, move_champion, reconcile
from include.retraining.promotion.rollback import RollbackRefused, RollbackRequest, parse_version, roll_back
from include.retraining.tables import promotions as promotion_log
from include.retraining.tables.promotions import PromotionAction, PromotionRecord
from include.retraining.tracking.tracker import DAG_ID_TAG, UnusableModelError
from tests.unit.rollback_fakes import MovingRegistry, VersionTracker, context

pytestmark = pytest.mark.unit


@pytest.fixture
def registry() -> MovingRegistry:
    """Versions 1..3 of churn; 3 is champion, 2 previous_champion."""
    return MovingRegistry(
        versions={"1": "run-1", "2": "run-2", "3": "run-3"}, aliases={"champion": "3", "previous_champion": "2"}
    )


def _rows(tmp_path: Path) -> list[PromotionRecord]:
    return promotion_log.history(f"sqlite:///{tmp_path / 'warehouse.db'}", "churn")


def test_a_rollback_to_previous_champion_logs_one_row_then_moves(tmp_path: Path, registry) -> None:
    done = roll_back(context(tmp_path, registry), RollbackRequest(None, "  v3 lost 4 points of recall "))

    assert registry.aliases == {"champion": "2", "previous_champion": "3"}
    (row,) = _rows(tmp_path)
    assert (row.from_version, row.to_version, row.action, row.actor) == ("3", "2", PromotionAction.ROLLBACK, "alice")
    assert row.reason == "v3 lost 4 points of recall" and row.run_url.endswith("/dags/rollback_churn/runs/manual__1")
    assert (done.from_version, done.to_version, done.log_id) == ("3", "2", row.id)


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


def test_a_move_that_failed_after_its_row_is_completed_by_the_next_mover(tmp_path: Path, registry) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    record = PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "bad", from_version="3", run_url="run/a")
    registry.fail_moves = 1
    with pytest.raises(ConnectionError):
        move_champion(url, registry, record, {})
    assert registry.aliases["champion"] == "3" and len(_rows(tmp_path)) == 1  # the row is there first

    repaired = reconcile(url, registry, "churn")

    assert repaired.outcome is Reconciled.COMPLETED and "row 1" in repaired.message
    assert registry.aliases == {"champion": "1", "previous_champion": "3"}
    assert reconcile(url, registry, "churn").outcome is Reconciled.IN_STEP
    assert len(_rows(tmp_path)) == 1  # one row for the one move


def test_a_champion_moved_by_hand_is_reported_and_left_alone(tmp_path: Path, registry) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert reconcile(url, registry, "churn").outcome is Reconciled.NO_LOG
    promotion_log.append(url, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate", from_version="1"))
    promotion_log.append(url, PromotionRecord("churn", "3", PromotionAction.REJECT, "no", from_version="2"))

    found = reconcile(url, registry, "churn")  # champion 3, log says 1 -> 2: moved outside the pipeline

    assert found.outcome is Reconciled.OUT_OF_BAND and "moved outside the pipeline" in found.message
    assert registry.moves == []


def test_a_lost_move_is_completed_only_onto_the_run_it_recorded(tmp_path: Path, registry) -> None:
    # The log outlived its MLflow store: the row's version 2 was another run than this registry's.
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    stale = {"to_run_id": "run-of-another-store"}
    promotion_log.append(url, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate", "1", figures=stale))
    registry.aliases = {"champion": "1"}

    found = reconcile(url, registry, "churn")

    assert found.outcome is Reconciled.OUT_OF_BAND and "does not match this registry's version 2" in found.message
    assert registry.aliases == {"champion": "1"} and registry.moves == []


def test_a_retrain_completes_a_lost_move_first_then_is_refused_against_the_new_champion(
    tmp_path: Path, registry
) -> None:
    from include.retraining.promotion.step import apply_decision
    from include.retraining.retrain.contracts import Evaluated

    ctx = context(tmp_path, registry, run_id="scheduled__2", actor="scheduler")
    lost = PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "bad", "3", {"to_run_id": "run-1"}, run_url="run/a")
    promotion_log.append(ctx.warehouse_url, lost)  # the row of a rollback whose alias move never happened
    evaluated = Evaluated("3", True, "better", "roc_auc", 0.8, 0.7)

    applied = apply_decision(ctx, evaluated, "4", ctx.run.window_end, {})

    assert applied.repaired and applied.promotion is None
    assert "changed from version 3 to 1" in applied.refused
    assert registry.aliases["champion"] == "1" and len(_rows(tmp_path)) == 1


def test_a_promotion_is_logged_as_promote_or_as_approve_by_its_approver(tmp_path: Path, registry) -> None:
    from dataclasses import replace

    from include.retraining.promotion.step import apply_decision
    from include.retraining.retrain.contracts import Evaluated

    ctx = context(tmp_path, registry, run_id="scheduled__3", actor="scheduler")
    ctx = replace(ctx, run=replace(ctx.run, approved_by="bob"))
    registry.versions["4"] = "run-4"

    applied = apply_decision(ctx, Evaluated("3", True, "better", "roc_auc", 0.8, 0.7), "4", ctx.run.window_end, {})

    assert applied.promotion is not None and registry.aliases == {"champion": "4", "previous_champion": "3"}
    (row,) = _rows(tmp_path)
    assert (row.action, row.actor, row.from_version, row.to_version) == (PromotionAction.APPROVE, "bob", "3", "4")
