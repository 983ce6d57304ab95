"""The champion's own feature list, the compare-and-set rule and the promotion lock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.retraining.promotion.baseline import model_features, promotion_lock, refusal
from include.retraining.tracking.registry import Champion
from include.retraining.tracking.tracker import WINDOW_END_TAG

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


def test_model_features_prefers_the_fitted_list() -> None:
    class Fitted:
        feature_names_in_ = ["a", "b"]

    assert model_features(Fitted(), ["a", "b", "c"]) == ["a", "b"]
    assert model_features(object(), ["a", "b", "c"]) == ["a", "b", "c"]


def test_promotions_of_one_model_take_turns(tmp_path: Path) -> None:
    order: list[str] = []

    def second() -> None:
        with promotion_lock(tmp_path, "churn"):
            order.append("second")

    with promotion_lock(tmp_path, "churn"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(timeout=5)
    assert order == ["first", "second"]
