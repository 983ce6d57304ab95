"""A champion that cannot be loaded (artifact corrupt or gone) has a defined outcome: one alert
naming it and why, and a retrain that still decides instead of failing every week (review H4)."""

from __future__ import annotations

import pytest

from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import model_aliases, recorded_alerts

pytestmark = pytest.mark.reliability


def _break_champion(world: World, how: str) -> None:
    (model_file,) = (world.data_dir / "mlartifacts").rglob("model.skops")
    if how == "corrupt":
        model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    else:
        model_file.unlink()


def _text(alert: dict) -> str:
    return " ".join([str(alert["title"]), *map(str, alert["lines"])]).lower()


@pytest.mark.parametrize("how", ["corrupt", "missing"])
def test_unusable_champion_is_named_in_one_alert_and_the_retrain_still_decides(world: World, how: str) -> None:
    _break_champion(world, how)

    states = run_dag("retrain_churn", NEXT_RUN)

    # Version 1 is the only one ever promoted, so there is no previous_champion to compare with:
    # the challenger is judged on the gate threshold alone (roc_auc >= 0.70), which the demo
    # data's challenger clears, so it is promoted.
    assert "failed" not in states.values() and states["promote"] == "success", states
    (unusable,) = recorded_alerts("champion_unusable")
    assert "champion version 1 is unusable" in _text(unusable)
    aliases = model_aliases()
    assert aliases["champion"] == "2", aliases
    reason = _decision_reason("2")
    assert reason.startswith("champion_unusable (version 1:") and "judged on the threshold alone" in reason, reason

    again = run_dag("retrain_churn", NEXT_RUN)

    # Version 2, trained on this exact snapshot, is already champion: nothing new to decide.
    assert "failed" not in again.values() and again["promote"] == "skipped", again
    assert model_aliases() == aliases
    assert len(recorded_alerts("champion_unusable")) == 1, "the rerun decides nothing new"


def _decision_reason(version: str) -> str:
    from mlflow.tracking import MlflowClient

    from include.retraining.common import load_settings
    from include.retraining.tracking import REASON_TAG

    uri = load_settings().tracking_uri
    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version("churn", version).tags
    return str(tags.get(REASON_TAG, "")).lower()
