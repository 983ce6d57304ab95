"""Whether a version earned `champion` (what a rollback needs without `force`): the promotion log
first, the registry's tags for versions the log does not cover, a forced move never counting.
Real SQLite promotion log."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.rollback import Unearned, version_standing
from include.retraining.tables import PromotionAction, PromotionRecord, append_once
from include.retraining.tracking import DECISION_TAG, REPLACED_BY_TAG, Champion
from tests.unit.promotion.fakes import log_db

pytestmark = pytest.mark.unit


def _version(tags: dict[str, str] | None = None) -> Champion:
    return Champion("4", "run-4", "models:/churn/4", tags or {})


def _log(tmp_path: Path, *actions: PromotionAction) -> None:
    for i, action in enumerate(actions):
        append_once(log_db(tmp_path), PromotionRecord("churn", "4", action, "why", "3", run_url=f"run/{i}"))


@pytest.mark.parametrize(
    ("actions", "tags", "previous", "expected"),
    [
        ([PromotionAction.PROMOTE], {}, None, None),
        ([PromotionAction.APPROVE], {DECISION_TAG: "block"}, None, None),  # the log answers first
        ([PromotionAction.REJECT], {DECISION_TAG: "block"}, None, Unearned.REJECTED),
        ([], {DECISION_TAG: "block"}, "4", Unearned.BLOCKED),  # blocked, even if it is previous_champion
        ([PromotionAction.FORCED_ROLLBACK], {DECISION_TAG: "forced_rollback"}, "4", Unearned.NEVER_CHAMPION),
        ([PromotionAction.PROMOTE, PromotionAction.FORCED_ROLLBACK], {}, None, None),  # earned before
        ([], {DECISION_TAG: "promote"}, None, None),  # a champion from before the promotion log
        ([], {REPLACED_BY_TAG: "5"}, None, None),
        ([], {}, "4", None),
        ([], {}, None, Unearned.NEVER_CHAMPION),
    ],
)
def test_standing_of_a_version(tmp_path: Path, actions, tags, previous, expected) -> None:
    _log(tmp_path, *actions)

    verdict = version_standing(log_db(tmp_path), "churn", _version(tags), previous)

    assert verdict.unearned is expected and verdict.earned is (expected is None)
    assert bool(verdict.why) is (expected is not None)


def test_rows_of_other_versions_and_models_do_not_count(tmp_path: Path) -> None:
    db = log_db(tmp_path)
    append_once(db, PromotionRecord("churn", "5", PromotionAction.PROMOTE, "why", "4"))
    append_once(db, PromotionRecord("fraud", "4", PromotionAction.PROMOTE, "why", "3"))

    assert version_standing(db, "churn", _version(), None).unearned is Unearned.NEVER_CHAMPION
