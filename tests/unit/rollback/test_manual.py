"""Rolling `champion` back by hand: the rollback's checks (the gate's verdicts included, and
`force`), one log row then the move, a retry that neither moves again nor logs twice, a lost move
completed first and reported, against a registry fake that moves aliases and a real SQLite
promotion log. The move path itself is tested in test_moves.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.promotion import move_champion
from include.retraining.rollback import (
    OVERRODE,
    RollbackRefused,
    RollbackRequest,
    parse_version,
    roll_back,
    rolled_back_alert,
)
from include.retraining.tables import PromotionAction, PromotionRecord, append_once
from include.retraining.tracking import DAG_ID_TAG, DECIDED_BY_TAG, DECISION_TAG, REASON_TAG, UnusableModelError
from tests.unit.promotion.fakes import MovingRegistry, VersionTracker, context, log_db, logged_moves, three_versions

pytestmark = pytest.mark.unit


@pytest.fixture
def registry() -> MovingRegistry:
    return three_versions()


def test_a_rollback_to_previous_champion_logs_one_row_then_moves(tmp_path: Path, registry) -> None:
    ctx = context(tmp_path, registry)
    done = roll_back(ctx, RollbackRequest(None, "  v3 lost 4 points of recall "))

    assert registry.aliases == {"champion": "2", "previous_champion": "3"}
    (row,) = logged_moves(tmp_path)
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

    assert again == first and registry.moves == ["2"] and len(logged_moves(tmp_path)) == 1


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

    assert registry.aliases["champion"] == "3" and logged_moves(tmp_path) == []


def test_another_models_run_registered_here_and_an_unloadable_version_are_refused(tmp_path: Path, registry) -> None:
    tracker = VersionTracker(
        models={"models:/churn/2": UnusableModelError("model.skops: BadZipFile")},
        tags={"run-1": {DAG_ID_TAG: "retrain_fraud"}},
    )
    with pytest.raises(RollbackRefused, match="trained by retrain_fraud, not retrain_churn"):
        roll_back(context(tmp_path, registry, tracker), RollbackRequest("1", "bad"))
    with pytest.raises(RollbackRefused, match="version 2 cannot be loaded .*BadZipFile"):
        roll_back(context(tmp_path, registry, tracker), RollbackRequest("2", "bad"))
    assert registry.moves == [] and logged_moves(tmp_path) == []


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


# The gate cannot be bypassed (review 2026-12-06 M4): a version the gate blocked, an approver
# rejected or that was never champion moves only with `force` and a reason, as its own action.
BLOCKED_TAGS = {
    DECISION_TAG: "block",
    DECIDED_BY_TAG: "http://airflow/dags/retrain_churn/runs/scheduled__2026-03-09",
    REASON_TAG: "lower bound -0.004 below min_improvement 0",
}


def _rejected(tmp_path: Path, version: str) -> PromotionRecord:
    row = PromotionRecord(
        "churn", version, PromotionAction.REJECT, "rejected by bob in the Airflow UI", "3", actor="bob",
        run_url="http://airflow/dags/retrain_churn/runs/manual__9",
    )  # fmt: skip
    return append_once(log_db(tmp_path), row)


def test_a_version_the_gate_blocked_is_refused_naming_the_run_the_reason_and_the_fix(tmp_path: Path) -> None:
    registry = MovingRegistry(
        versions={"1": "run-1", "2": "run-2", "3": "run-3"},
        aliases={"champion": "3", "previous_champion": "2"},
        tags={"1": BLOCKED_TAGS},
    )
    with pytest.raises(RollbackRefused) as refused:
        roll_back(context(tmp_path, registry), RollbackRequest("1", "v3 is worse"))

    message = str(refused.value)
    assert "model 'churn': refused to make version 1 champion: the promotion gate blocked it in" in message
    assert "runs/scheduled__2026-03-09 (lower bound -0.004 below min_improvement 0)" in message
    assert "`champion` stays version 3" in message and "force: true and a reason" in message
    assert registry.moves == [] and logged_moves(tmp_path) == []


def test_a_version_an_approver_rejected_is_refused_naming_who_and_when(tmp_path: Path, registry) -> None:
    rejected = _rejected(tmp_path, "1")

    with pytest.raises(RollbackRefused) as refused:
        roll_back(context(tmp_path, registry), RollbackRequest("1", "v3 is worse"))

    message = str(refused.value)
    assert (
        f"its approval was declined on {rejected.at:%Y-%m-%d %H:%M} UTC: rejected by bob in the Airflow UI" in message
    )
    assert f"promotion log row {rejected.id}" in message and "force: true" in message
    assert registry.moves == [] and logged_moves(tmp_path) == [rejected]


def test_a_version_never_champion_is_refused(tmp_path: Path, registry) -> None:
    with pytest.raises(RollbackRefused, match="version 1 champion: it was never champion: no promotion log row"):
        roll_back(context(tmp_path, registry), RollbackRequest("1", "v3 is worse"))

    assert registry.moves == []


def test_a_forced_rollback_moves_logs_its_own_action_and_alerts_what_it_overrode(tmp_path: Path) -> None:
    registry = MovingRegistry(
        versions={"1": "run-1", "2": "run-2", "3": "run-3"},
        aliases={"champion": "3", "previous_champion": "2"},
        tags={"1": BLOCKED_TAGS},
    )
    ctx = context(tmp_path, registry)

    done = roll_back(ctx, RollbackRequest("1", "v3 and v2 both mis-score; v1 is the least bad", force=True))
    again = roll_back(ctx, RollbackRequest("1", "v3 and v2 both mis-score; v1 is the least bad", force=True))

    assert registry.aliases == {"champion": "1", "previous_champion": "3"} and again == done
    (row,) = logged_moves(tmp_path)
    assert (row.from_version, row.to_version, row.action, row.actor) == (
        "3",
        "1",
        PromotionAction.FORCED_ROLLBACK,
        "alice",
    )
    assert row.figures[OVERRODE].startswith("the promotion gate blocked it in")
    alert = rolled_back_alert(ctx, done)
    assert alert.kind == "champion_forced_back" and alert.title == "churn: champion forcibly rolled back to version 1"
    assert "(forced_rollback, by alice)" in alert.lines[0]
    assert alert.lines[2].startswith("Forced past the gate (param force): the promotion gate blocked it in")


def test_force_is_not_needed_nor_recorded_for_a_version_that_was_champion(tmp_path: Path, registry) -> None:
    done = roll_back(context(tmp_path, registry), RollbackRequest(None, "v3 is worse", force=True))

    assert done.action == "rollback" and done.overrode is None and registry.aliases["champion"] == "2"


def test_a_version_champion_only_by_force_needs_force_again(tmp_path: Path, registry) -> None:
    roll_back(context(tmp_path, registry), RollbackRequest("1", "least bad", force=True))
    promoted = PromotionRecord("churn", "3", PromotionAction.PROMOTE, "gate passed", "1", run_url="run/retrain")
    move_champion(log_db(tmp_path), registry, promoted, {})  # a new promotion: 1 is previous_champion now

    with pytest.raises(RollbackRefused, match="never champion except by a forced rollback .*row 1, by alice"):
        roll_back(context(tmp_path, registry, run_id="manual__2"), RollbackRequest(None, "v3 again"))


def test_an_automatic_rollback_is_never_forced(tmp_path: Path, registry) -> None:
    request = RollbackRequest("1", "auto", action=PromotionAction.AUTO_ROLLBACK, force=True, expected_from="3")

    with pytest.raises(RollbackRefused, match="An automatic rollback is never forced"):
        roll_back(context(tmp_path, registry), request)

    assert registry.moves == []


# A lost move completed inside a rollback is reported, and never followed by a second move
# (review 2026-12-06 L4: lost move 3 -> 1 completed, then an empty-to_version rollback went 1 -> 3).
def _lost_move_to_1(tmp_path: Path, registry: MovingRegistry) -> PromotionRecord:
    registry.tags["1"] = {DECISION_TAG: "promote"}  # v1 served before: a rollback to it is earned
    lost = PromotionRecord(
        "churn", "1", PromotionAction.ROLLBACK, "died before its move", "3", {"to_run_id": "run-1"}, run_url="run/lost"
    )
    return append_once(log_db(tmp_path), lost)


def test_after_a_completed_lost_move_an_empty_target_rollback_moves_nothing_more(tmp_path: Path, registry) -> None:
    lost = _lost_move_to_1(tmp_path, registry)

    with pytest.raises(RollbackRefused) as refused:
        roll_back(context(tmp_path, registry), RollbackRequest(None, "v3 is worse"))

    message = str(refused.value)
    assert f"completed the rollback to version 1 recorded in the promotion log (row {lost.id}, run/lost)" in message
    assert "`champion` is now version 1 and previous_champion version 3" in message
    assert "moved nothing more" in message and "trigger rollback_churn again with to_version" in message
    assert registry.moves == ["1"] and registry.aliases == {"champion": "1", "previous_champion": "3"}
    assert logged_moves(tmp_path) == [lost]


def test_after_a_completed_lost_move_to_the_version_asked_for_the_rollback_reports_it(tmp_path: Path, registry) -> None:
    lost = _lost_move_to_1(tmp_path, registry)
    ctx = context(tmp_path, registry)

    done = roll_back(ctx, RollbackRequest("1", "v3 is worse"))

    assert registry.moves == ["1"] and logged_moves(tmp_path) == [lost]
    assert (done.from_version, done.to_version, done.log_id) == ("3", "1", lost.id)
    assert "that is the version this rollback asked for, so it moved nothing more" in done.reconciled
    assert any(line.startswith("Before this rollback: model 'churn': completed the rollback") for line in
               rolled_back_alert(ctx, done).lines)  # fmt: skip


def test_after_a_completed_lost_move_a_rollback_to_another_version_moves_nothing_more(tmp_path: Path, registry) -> None:
    _lost_move_to_1(tmp_path, registry)

    with pytest.raises(RollbackRefused, match="this rollback \\(to_version 2\\) was asked against the champion"):
        roll_back(context(tmp_path, registry), RollbackRequest("2", "v3 is worse"))

    assert registry.aliases["champion"] == "1" and registry.moves == ["1"]
