"""The Models page as HTML: a registry that did not answer is shown as unknown, never as "no
champion"; the Roll back form only for users who may trigger it; every value escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.orchestration.models_page import render, sparkline
from include.retraining.overview import REGISTRY_ERROR, MetricPoint, ModelOverview
from include.retraining.tables import PromotionAction, PromotionRecord

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 3, tzinfo=UTC)
APPROVED = PromotionRecord(
    "churn", "2", PromotionAction.APPROVE, "better", "1", actor="alice", at=T0 + timedelta(weeks=1)
)


def _row(**changes: object) -> ModelOverview:
    row = ModelOverview(
        name="churn",
        metric="roc_auc",
        rollback_dag_id="rollback_churn",
        champion="2",
        previous_champion="1",
        since=APPROVED,
        gate_version="3",
        gate_decision="block",
        gate_reason="rejected by bob",
        drift_window_end=T0 + timedelta(weeks=2),
        drift_decision="retrain",
        drift_reasons="<b>drift</b> in monthly_charges",
        series=[MetricPoint(T0 + timedelta(weeks=w), v, "1") for w, v in enumerate([0.81, 0.80, 0.78])],
        history=[APPROVED],
        links={"MLflow model": "http://mlflow.test/#/models/churn", "GX result": ""},
    )
    for name, value in changes.items():
        setattr(row, name, value)
    return row


def test_a_registry_that_did_not_answer_is_unknown_not_no_champion() -> None:
    failed = _row(champion=None, errors=[f"{REGISTRY_ERROR}: RegistryError: tracking server down"])

    html = render([failed], {"churn": True}, "admin")

    assert "unknown: the registry did not answer" in html and "no champion yet" not in html
    assert '<div class="error">MLflow registry: RegistryError: tracking server down</div>' in html


def test_a_model_without_a_champion_says_so() -> None:
    html = render([_row(champion=None, since=None)], {"churn": True}, "admin")

    assert "no champion yet" in html and "unknown" not in html


def test_only_users_who_may_trigger_the_rollback_get_the_form_and_values_are_escaped() -> None:
    admin = render([_row()], {"churn": True}, "admin")
    viewer = render([_row()], {"churn": False}, "<viewer>")

    assert 'data-dag="rollback_churn"' in admin and "default v1" in admin
    assert "<form" not in viewer and "read only" in viewer and "Signed in as &lt;viewer&gt;" in viewer
    assert "<b>drift</b>" not in admin and "&lt;b&gt;drift&lt;/b&gt;" in admin
    assert admin.count("<circle") == 3 and "latest 0.7800" in admin
    assert "since 2026-03-09 03:00 UTC (approve by alice)" in admin
    assert "GX result: none yet" in admin and 'href="http://mlflow.test/#/models/churn"' in admin


def test_a_champion_missing_from_the_log_and_an_unmonitored_model_say_so() -> None:
    html = render([_row(since=None, drift_window_end=None, series=[], history=[])], {}, "admin")

    assert "not in the promotion log" in html and "drift: not monitored yet" in html
    assert "no matured labels yet" in html and "no rows yet" in html and "read only" in html


def test_the_chart_spans_the_values_with_a_dot_per_window() -> None:
    points = [MetricPoint(T0 + timedelta(weeks=w), v, "1") for w, v in enumerate([0.7, 0.9])]

    chart = sparkline(points, "roc_auc")

    assert chart.count("<circle") == 2 and "roc_auc 0.700 - 0.900, 2026-03-02 to 2026-03-09, latest 0.9000" in chart
    assert '<polyline points="6.0,64.0 254.0,6.0"' in chart  # the lowest value at the bottom, the highest at the top


def test_a_forced_rollback_stands_out_and_the_form_can_force_with_a_reason() -> None:
    forced = PromotionRecord(
        "churn", "3", PromotionAction.FORCED_ROLLBACK, "least bad", "2", actor="carol", at=T0 + timedelta(weeks=2)
    )

    html = render([_row(champion="3", since=forced, history=[forced, APPROVED])], {"churn": True}, "admin")

    assert html.count('<span class="forced" title="the gate was bypassed (param force)">forced_rollback</span>') == 2
    assert '<input type="checkbox" name="force"> force (bypass the gate)' in html
    assert "if (form.elements.force.checked) conf.force = true;" in html


def _outcome(promotion_id: int, verdict: str, difference: float, lower: float | None):
    from include.retraining.tables import PromotionOutcomeRow

    return PromotionOutcomeRow(
        promotion_id, "churn", str(promotion_id), str(promotion_id + 1), T0, T0 + timedelta(days=7), 400, "roc_auc",
        None if lower is None else 0.03, lower, difference, difference - 0.02, difference + 0.02, 0.95, "delong",
        None if lower is None else difference >= lower, verdict, "scheduled__x", T0,
    )  # fmt: skip


def test_verified_promotions_show_their_verdicts_and_how_often_the_promise_held() -> None:
    outcomes = [_outcome(3, "regressed", -0.05, None), _outcome(2, "held", 0.02, 0.01), _outcome(1, "short", 0.0, 0.01)]

    html = render([_row(outcomes=outcomes, calibration=(1, 2))], {"churn": True}, "admin")

    assert "verified promotions; promised bound held in 1 of 2" in html
    assert '<li class="regressed">v3 &rarr; v4: regressed, roc_auc -0.0500 (-0.0700 .. -0.0300)</li>' in html
    assert (
        '<li class="held">v2 &rarr; v3: held, roc_auc +0.0200 (+0.0000 .. +0.0400), promised &ge; +0.0100</li>' in html
    )
    assert "verified promotions: none yet" in render([_row()], {}, "viewer")
