"""The one room where `champion` moves: the compare-and-set rule, the promotion lock, the move
path (log row first, alias after, a lost move completed by the next mover) and the gate's
decision applied under the lock, against a registry fake that moves aliases and a real SQLite
promotion log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.promotion import (
    Evaluated,
    Reconciled,
    apply_decision,
    move_champion,
    promotion_lock,
    reconcile,
    refusal,
)
from include.retraining.tables import PromotionAction, PromotionRecord, append_once, history
from include.retraining.tracking import WINDOW_END_TAG, Champion
from tests.unit.promotion.fakes import MovingRegistry, context, log_db

pytestmark = pytest.mark.unit

END = datetime(2026, 3, 1, tzinfo=UTC)


def _champion(version: str, window_end: datetime | None = END) -> Champion:
    tags = {WINDOW_END_TAG: window_end.isoformat()} if window_end else {}
    return Champion(version, f"run-{version}", "models:/churn@champion", tags)


@pytest.mark.parametrize(
    ("current", "evaluated", "expected"),
    [
        (None, None, None),
        (_champion("2"), "2", None),
        (_champion("3"), "2", "changed from version 2 to 3"),
        (None, "2", "changed from version 2 to none"),
        (_champion("2"), None, "changed from version none to 2"),
        (_champion("2", END + timedelta(days=1)), "2", "older than the champion"),
        (_champion("2", None), "2", None),
        (_champion("5"), "2", None),  # version 5 is the one being promoted: a retry completing its move
    ],
)
def test_refusal_is_compare_and_set_on_version_and_window(
    current: Champion | None, evaluated: str | None, expected: str | None
) -> None:
    reason = refusal(current, evaluated, "5", END)
    assert reason is None if expected is None else expected in reason


def test_promotions_of_one_model_take_turns(tmp_path: Path) -> None:
    """The second holder checks, right after it acquires, that the first had already said it was
    releasing. A working lock passes whatever the scheduling; a lock that lets both in fails as
    soon as the second thread runs while the first holds it, which the first waits for (the wait
    only bounds how long a working lock is given to prove it keeps the second out)."""
    first_holds, first_releasing, second_entered = threading.Event(), threading.Event(), threading.Event()
    seen_on_entry: list[bool] = []

    def second() -> None:
        first_holds.wait(timeout=5)
        with promotion_lock(tmp_path, "churn"):
            seen_on_entry.append(first_releasing.is_set())
            second_entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    with promotion_lock(tmp_path, "churn"):
        first_holds.set()
        entered_while_held = second_entered.wait(timeout=1.0)
        first_releasing.set()
    thread.join(timeout=5)

    assert not entered_while_held and seen_on_entry == [True]


def test_another_models_promotion_does_not_wait(tmp_path: Path) -> None:
    entered = threading.Event()

    def other_model() -> None:
        with promotion_lock(tmp_path, "fraud"):
            entered.set()

    with promotion_lock(tmp_path, "churn"):
        thread = threading.Thread(target=other_model)
        thread.start()
        assert entered.wait(timeout=5), "fraud's promotion waited for churn's lock"
    thread.join(timeout=5)


@pytest.fixture
def registry() -> MovingRegistry:
    """Versions 1..3 of churn; 3 is champion, 2 previous_champion."""
    return MovingRegistry(
        versions={"1": "run-1", "2": "run-2", "3": "run-3"}, aliases={"champion": "3", "previous_champion": "2"}
    )


def _rows(tmp_path: Path) -> list[PromotionRecord]:
    return history(log_db(tmp_path), "churn")


def test_a_move_that_failed_after_its_row_is_completed_by_the_next_mover(tmp_path: Path, registry) -> None:
    db = log_db(tmp_path)
    record = PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "bad", from_version="3", run_url="run/a")
    registry.fail_moves = 1
    with pytest.raises(ConnectionError):
        move_champion(db, registry, record, {})
    assert registry.aliases["champion"] == "3" and len(_rows(tmp_path)) == 1  # the row is there first

    repaired = reconcile(db, registry, "churn")

    assert repaired.outcome is Reconciled.COMPLETED and "row 1" in repaired.message
    assert registry.aliases == {"champion": "1", "previous_champion": "3"}
    assert reconcile(db, registry, "churn").outcome is Reconciled.IN_STEP
    assert len(_rows(tmp_path)) == 1  # one row for the one move


def test_a_move_killed_between_its_two_alias_moves_has_previous_champion_repaired(tmp_path: Path, registry) -> None:
    db = log_db(tmp_path)
    record = PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "bad", from_version="3", run_url="run/a")
    registry.die_between_moves = True
    with pytest.raises(SystemExit):
        move_champion(db, registry, record, {})
    assert registry.aliases == {"champion": "1", "previous_champion": "2"}  # stale: two versions back

    found = reconcile(db, registry, "churn")

    assert found.outcome is Reconciled.IN_STEP and "repaired to version 3" in found.message
    assert registry.aliases == {"champion": "1", "previous_champion": "3"}
    assert reconcile(db, registry, "churn").message == "", "repaired once; nothing left to repair"


def test_previous_champion_is_repaired_only_onto_this_registrys_move(tmp_path: Path, registry) -> None:
    db = log_db(tmp_path)
    stale = {"to_run_id": "run-of-another-store"}
    append_once(db, PromotionRecord("churn", "3", PromotionAction.PROMOTE, "gate", "1", figures=stale))

    found = reconcile(db, registry, "churn")

    assert found.outcome is Reconciled.IN_STEP and found.message == ""
    assert registry.aliases == {"champion": "3", "previous_champion": "2"}


def test_a_move_to_a_version_the_registry_does_not_have_writes_nothing(tmp_path: Path, registry) -> None:
    record = PromotionRecord("churn", "9", PromotionAction.ROLLBACK, "bad", from_version="3")

    with pytest.raises(ValueError, match="has no version 9"):
        move_champion(log_db(tmp_path), registry, record, {})

    assert _rows(tmp_path) == [] and registry.moves == []


def test_a_champion_moved_by_hand_is_reported_and_left_alone(tmp_path: Path, registry) -> None:
    db = log_db(tmp_path)
    assert reconcile(db, registry, "churn").outcome is Reconciled.NO_LOG
    append_once(db, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate", from_version="1"))
    append_once(db, PromotionRecord("churn", "3", PromotionAction.REJECT, "no", from_version="2"))

    found = reconcile(db, registry, "churn")  # champion 3, log says 1 -> 2: moved outside the pipeline

    assert found.outcome is Reconciled.OUT_OF_BAND and "moved outside the pipeline" in found.message
    assert registry.moves == []


def test_a_lost_move_is_completed_only_onto_the_run_it_recorded(tmp_path: Path, registry) -> None:
    # The log outlived its MLflow store: the row's version 2 was another run than this registry's.
    db = log_db(tmp_path)
    stale = {"to_run_id": "run-of-another-store"}
    append_once(db, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate", "1", figures=stale))
    registry.aliases = {"champion": "1"}

    found = reconcile(db, registry, "churn")

    assert found.outcome is Reconciled.OUT_OF_BAND and "does not match this registry's version 2" in found.message
    assert registry.aliases == {"champion": "1"} and registry.moves == []


def test_a_retrain_completes_a_lost_move_first_then_is_refused_against_the_new_champion(
    tmp_path: Path, registry
) -> None:
    ctx = context(tmp_path, registry, run_id="scheduled__2", actor="scheduler")
    lost = PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "bad", "3", {"to_run_id": "run-1"}, run_url="run/a")
    append_once(ctx.pipeline_db, lost)  # the row of a rollback whose alias move never happened
    evaluated = Evaluated("3", True, "better", "roc_auc", 0.8, 0.7)

    applied = apply_decision(ctx, evaluated, "4", ctx.run.window_end, {})

    assert applied.repaired and applied.promotion is None
    assert "changed from version 3 to 1" in applied.refused
    assert registry.aliases["champion"] == "1" and len(_rows(tmp_path)) == 1


@pytest.mark.parametrize(
    ("approved_by", "action", "actor"),
    [(None, PromotionAction.PROMOTE, "scheduler"), ("bob", PromotionAction.APPROVE, "bob")],
)
def test_a_promotion_is_logged_as_promote_or_as_approve_by_its_approver(
    tmp_path: Path, registry, approved_by: str | None, action: PromotionAction, actor: str
) -> None:
    ctx = context(tmp_path, registry, run_id="scheduled__3", actor="scheduler")
    registry.versions["4"] = "run-4"
    evaluated = Evaluated("3", True, "better", "roc_auc", 0.8, 0.7)

    applied = apply_decision(ctx, evaluated, "4", ctx.run.window_end, {}, approved_by=approved_by)

    assert applied.promotion is not None and applied.promotion.previous == "3"
    assert registry.aliases == {"champion": "4", "previous_champion": "3"}
    (row,) = _rows(tmp_path)
    assert (row.action, row.actor, row.from_version, row.to_version) == (action, actor, "3", "4")
    assert row.figures["to_run_id"] == "run-4" and row.figures["challenger_value"] == 0.8


def test_a_blocked_gate_moves_nothing_and_logs_nothing(tmp_path: Path, registry) -> None:
    ctx = context(tmp_path, registry)
    registry.versions["4"] = "run-4"

    applied = apply_decision(ctx, Evaluated("3", False, "worse", "roc_auc", 0.7, 0.8), "4", ctx.run.window_end, {})

    assert applied.promotion is None and applied.refused is None and not applied.repaired
    assert registry.moves == [] and _rows(tmp_path) == []
