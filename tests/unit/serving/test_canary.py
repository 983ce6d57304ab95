"""The canary's share of traffic: which rows it answers (sticky by id, one draw per request
without ids, the configured fraction), what the app answers and logs for them (the champion's
shadow score beside the canary's answer), and that only a version put on canary ever answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from include.retraining.inference import Answer, InferenceLog
from include.retraining.promotion import CANARY, on_canary
from include.retraining.score import canary_rows, id_share
from include.retraining.tracking import DECISION_TAG
from serving.app import VERSION_HEADER, create_app
from serving.canary import Canary
from serving.follower import AliasFollower
from tests.unit.serving.fakes import FEATURES, FakeRegistry, follow, scorer

pytestmark = pytest.mark.unit


def _ids(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": np.arange(start, start + n), "tenure": 1.0, "plan": "a"})


def test_an_id_always_meets_the_same_version_whatever_the_request() -> None:
    frame = _ids(5000)
    first = canary_rows(frame, "customer_id", 0.1, lambda: 0.0)
    shuffled = frame.sample(frac=1.0, random_state=3)

    again = canary_rows(shuffled, "customer_id", 0.1, lambda: 0.0)

    assert (pd.Series(again, index=shuffled.index).sort_index().to_numpy() == first).all()
    assert id_share("41") == id_share("41") and canary_rows(_ids(1, 41), "customer_id", 0.1, lambda: 0.0)[0] == (
        id_share("41") < 0.1
    )


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.5])
def test_the_share_of_ids_on_canary_is_the_fraction(fraction: float) -> None:
    chosen = canary_rows(_ids(40_000), "customer_id", fraction, lambda: 0.0)

    assert chosen.mean() == pytest.approx(fraction, abs=0.01)


def test_rows_without_an_id_follow_one_draw_per_request() -> None:
    frame = pd.DataFrame({"tenure": [1.0, 2.0, 3.0], "plan": "a"})

    assert canary_rows(frame, "customer_id", 0.1, lambda: 0.05).all()
    assert not canary_rows(frame, "customer_id", 0.1, lambda: 0.5).any()
    assert not canary_rows(frame, None, 0.1, lambda: 0.99).any()


class Captured:
    """An inference log whose writes keep the answers themselves (the app's writer, its shape skipped)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.log = InferenceLog(lambda columns: self.answers.extend(columns["answers"]), lambda a: {"answers": a})


def _app(tags: dict[str, str], logged: Any = None) -> tuple[TestClient, FakeRegistry]:
    registry = FakeRegistry()
    registry.aliases.update({"champion": "1", "challenger": "2"})
    registry.tags["2"] = tags
    champion = follow(registry)
    challenger = AliasFollower(
        "churn", "challenger", registry, scorer, FEATURES, poll_seconds=1.0, admit=lambda t: on_canary(t.tags)
    )
    champion.poll_once()
    challenger.poll_once()
    canary = Canary(challenger, 0.3, "customer_id")
    inference_log = logged.log if logged is not None else None
    return TestClient(create_app(champion, follow=False, inference_log=inference_log, canary=canary)), registry


def test_the_canary_answers_its_rows_and_the_champion_scores_them_in_shadow() -> None:
    logged = Captured()
    client, registry = _app({DECISION_TAG: CANARY}, logged)
    frame = _ids(200)
    chosen = canary_rows(frame, "customer_id", 0.3, lambda: 0.0)

    with client:
        answer = client.post("/invocations", json={"dataframe_records": frame.to_dict("records")})

    champion, canary = (scorer(registry.models[v], frame[FEATURES]) for v in ("1", "2"))
    assert answer.status_code == 200 and answer.headers[VERSION_HEADER] == "1,2"
    assert np.allclose(answer.json()["predictions"], np.where(chosen, canary, champion))
    by_champion, by_canary = logged.answers
    assert (by_champion.version, by_champion.rows, by_champion.answered.tolist()) == ("1", 200, (~chosen).tolist())
    assert (by_canary.version, by_canary.alias, by_canary.rows) == ("2", "challenger", chosen.sum())
    assert by_canary.answered is None and by_canary.positions.tolist() == np.flatnonzero(chosen).tolist()


def test_a_challenger_the_gate_blocked_never_answers() -> None:
    client, registry = _app({DECISION_TAG: "block"})
    frame = _ids(200)

    with client:
        answer = client.post("/invocations", json={"dataframe_records": frame.to_dict("records")})

    assert answer.headers[VERSION_HEADER] == "1"
    assert np.allclose(answer.json()["predictions"], scorer(registry.models["1"], frame[FEATURES]))


def test_an_ended_canary_stops_answering_at_the_next_poll() -> None:
    registry = FakeRegistry()
    registry.aliases["challenger"] = "2"
    registry.tags["2"] = {DECISION_TAG: CANARY}
    follower = AliasFollower(
        "churn", "challenger", registry, scorer, FEATURES, poll_seconds=1.0, admit=lambda t: on_canary(t.tags)
    )
    follower.poll_once()
    assert follower.served is not None and follower.served.version == "2"

    del registry.aliases["challenger"]
    follower.poll_once()

    assert follower.served is None and follower.state().error is None


def test_a_canary_follower_is_built_only_for_a_champion_server_of_a_model_with_a_canary(tmp_path) -> None:
    import yaml

    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config
    from serving.__main__ import build_canary
    from tests.support import REPO

    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["serving"] = {"canary": {"fraction": 0.2}}
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(config))
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data"), "RETRAINING_MODELS_DIR": str(tmp_path)})
    with_canary = load_model_config(tmp_path / "churn.yaml")
    without = load_model_config(REPO / "include" / "models" / "churn.yaml")

    canary = build_canary(settings, with_canary, "champion", 1.0)

    assert (canary.follower.alias, canary.fraction, canary.id_column) == ("challenger", 0.2, "customer_id")
    assert build_canary(settings, with_canary, "previous_champion", 1.0) is None
    assert build_canary(settings, without, "champion", 1.0) is None
