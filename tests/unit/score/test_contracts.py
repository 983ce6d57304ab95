"""What the score tasks hand each other crosses XCom as plain JSON and comes back equal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from include.retraining.common import Window
from include.retraining.score import Alias, AliasScored, ScoringPlan, ScoringResult, ShadowOutcome

pytestmark = pytest.mark.unit

INTERVAL = Window(datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC))


@pytest.mark.parametrize(
    "plan",
    [
        ScoringPlan(INTERVAL, "churn_predictions", "3", "4", ShadowOutcome.SCORED),
        ScoringPlan(INTERVAL, "analytics.churn_scores", "3", None, ShadowOutcome.OFF),
    ],
)
def test_a_plan_round_trips_through_xcom(plan: ScoringPlan) -> None:
    data = json.loads(json.dumps(plan.to_xcom()))  # what XCom stores: JSON

    assert ScoringPlan.from_xcom(data) == plan
    assert data["interval"] == {"start": "2026-03-01T04:00:00+00:00", "end": "2026-03-02T04:00:00+00:00"}
    assert data["shadow"] == plan.shadow.value


def test_a_result_crosses_xcom_as_plain_json() -> None:
    scored = [
        AliasScored(Alias.CHAMPION, "3", 10, nulls={"region": 2}, invalid={"tenure_months": 1}),
        AliasScored(Alias.CHALLENGER, "4", 10, unseen={"region": 1}),
    ]
    result = ScoringResult(INTERVAL, "churn_predictions", 20, scored, ShadowOutcome.SCORED, pruned=7)

    data = json.loads(json.dumps(result.to_xcom()))

    assert data == {
        "interval": INTERVAL.to_dict(),
        "table": "churn_predictions",
        "rows": 20,
        "scored": [
            {
                "alias": "champion",
                "version": "3",
                "rows": 10,
                "nulls": {"region": 2},
                "unseen": {},
                "invalid": {"tenure_months": 1},
            },
            {"alias": "challenger", "version": "4", "rows": 10, "nulls": {}, "unseen": {"region": 1}, "invalid": {}},
        ],
        "shadow": "scored",
        "shadow_error": "",
        "pruned": 7,
    }
