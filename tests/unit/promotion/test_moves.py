"""The one room where `champion` moves: the compare-and-set rule, the promotion lock, the move
path (log row first, alias after, a lost move completed by the next mover) and the gate's
decision applied under the lock, against a registry fake that moves aliases and a real SQLite
promotion log."""

from __future__ import annotations

import fcntl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.locking import lock_file
from include.retraining.promotion import (
    Evaluated,
    Reconciled,
    apply_decision,
    move_champion,
    promotion_lock,
    reconcile,
    refusal,
)
from include.retraining.tables import PromotionAction, PromotionRecord, append_once
from include.retraining.tracking import WINDOW_END_TAG, Champion
from tests.unit.promotion.fakes import MovingRegistry, context, log_db, logged_moves, three_versions

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


def _refused_to_anyone_else(path: Path) -> bool:
    """Whether the lock file refuses a non-blocking shared flock from a new open file description
    (another process, or another promotion here): refused while anybody holds the lock exclusively."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def test_promotions_of_one_model_take_turns(tmp_path: Path) -> None:
    """The first holder stays inside until the test lets it go. Meanwhile a non-blocking attempt
    on the lock file must be refused: a lock that keeps nobody out (no flock, a shared one, another
    file) fails here on every run, whatever the scheduling. A second promotion that asked while the
    first held it enters only after the first left. The waits only guard against a hang. The
    promotion log here is SQLite (the embedded default), so the named lock is a file lock beside it;
    PostgreSQL and MariaDB are tested in tests/unit/locking/test_locks.py and between two hosts in
    tests/integration/test_promotion_hosts.py."""
    db, order = log_db(tmp_path), []
    first_inside, let_go = threading.Event(), threading.Event()

    def first() -> None:
        with promotion_lock(db, "churn"):
            order.append("first in")
            first_inside.set()
            let_go.wait(timeout=60)
            order.append("first out")

    def second() -> None:
        with promotion_lock(db, "churn"):
            order.append("second in")

    holder = threading.Thread(target=first)
    holder.start()
    assert first_inside.wait(timeout=60), "the first promotion never got the lock"
    waiter = threading.Thread(target=second)
    waiter.start()
    refused = _refused_to_anyone_else(lock_file(db.database_file, "promotion/churn"))
    let_go.set()
    holder.join(timeout=60)
    waiter.join(timeout=60)

    assert refused, "the promotion lock let another holder in while the first promotion held it"
    assert order == ["first in", "first out", "second in"], order
    assert not _refused_to_anyone_else(lock_file(db.database_file, "promotion/churn")), (
        "the lock is released on the way out"
    )


def test_another_models_promotion_does_not_wait(tmp_path: Path) -> None:
    db = log_db(tmp_path)
    entered = threading.Event()

    def other_model() -> None:
        with promotion_lock(db, "fraud"):
            entered.set()

    with promotion_lock(db, "churn"):
        thread = threading.Thread(target=other_model)
        thread.start()
        assert entered.wait(timeout=5), "fraud's promotion waited for churn's lock"
    thread.join(timeout=5)


@pytest.fixture
def registry() -> MovingRegistry:
    return three_versions()


def test_a_move_that_failed_after_its_row_is_completed_by_the_next_mover(tmp_path: Path, registry) -> None:
    db = log_db(tmp_path)
    record = PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "bad", from_version="3", run_url="run/a")
    registry.fail_moves = 1
    with pytest.raises(ConnectionError):
        move_champion(db, registry, record, {})
    assert registry.aliases["champion"] == "3" and len(logged_moves(tmp_path)) == 1  # the row is there first

    repaired = reconcile(db, registry, "churn")

    assert repaired.outcome is Reconciled.COMPLETED and "row 1" in repaired.message
    assert registry.aliases == {"champion": "1", "previous_champion": "3"}
    assert reconcile(db, registry, "churn").outcome is Reconciled.IN_STEP
    assert len(logged_moves(tmp_path)) == 1  # one row for the one move


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

    assert logged_moves(tmp_path) == [] and registry.moves == []


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
    assert registry.aliases["champion"] == "1" and len(logged_moves(tmp_path)) == 1


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
    (row,) = logged_moves(tmp_path)
    assert (row.action, row.actor, row.from_version, row.to_version) == (action, actor, "3", "4")
    assert row.figures["to_run_id"] == "run-4" and row.figures["challenger_value"] == 0.8


def test_a_blocked_gate_moves_nothing_and_logs_nothing(tmp_path: Path, registry) -> None:
    ctx = context(tmp_path, registry)
    registry.versions["4"] = "run-4"

    applied = apply_decision(ctx, Evaluated("3", False, "worse", "roc_auc", 0.7, 0.8), "4", ctx.run.window_end, {})

    assert applied.promotion is None and applied.refused is None and not applied.repaired
    assert registry.moves == [] and logged_moves(tmp_path) == []
