"""Two promotions racing: run A is evaluated against champion 1, run B promotes meanwhile, then
A's promote runs (a slow worker, or an operator clearing it). Promotion is compare-and-set:
A must not move the alias over a champion it never compared with, nor ever promote a model
trained on an older window than the champion's (review M1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.retraining.tracking import COMPARED_WITH_TAG
from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import model_aliases, recorded_alerts, run_dag_marked, run_task_again

pytestmark = pytest.mark.reliability

LATER_RUN = NEXT_RUN + timedelta(weeks=1)


def _version_tags(version: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    from include.retraining.common import load_settings

    uri = load_settings().tracking_uri
    return dict(MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version("churn", version).tags)


def test_a_promotion_evaluated_against_a_replaced_champion_is_blocked(world: World) -> None:
    # Any challenger not worse by a whole AUC point on its own holdout (at 95%) is promoted: both
    # runs want the alias. Stated here, since churn.yaml's gate is the stricter default.
    world.write_model(gate={"min_improvement": -0.01, "confidence": 0.95, "pooled_windows": 1})
    run_a, states_a = run_dag_marked("retrain_churn", NEXT_RUN, mark_success="promote")
    assert states_a["evaluate"] == "success"
    states_b = run_dag("retrain_churn", LATER_RUN)
    assert states_b["promote"] == "success", states_b
    champion_b = model_aliases()["champion"]
    assert champion_b != "1" and _version_tags(champion_b)[COMPARED_WITH_TAG] == "1"

    promote_a = run_task_again("retrain_churn", "promote", run_a)

    assert promote_a == "skipped", "A's decision was made against champion 1, which is no longer champion"
    assert model_aliases()["champion"] == champion_b
    (refused,) = recorded_alerts()
    assert f"the champion changed from version 1 to {champion_b}" in " ".join(refused["lines"])

    again = run_dag("retrain_churn", NEXT_RUN)

    assert "failed" not in again.values() and again["promote"] == "skipped", again
    assert model_aliases()["champion"] == champion_b, "A, rerun, compares with B's champion and loses"
