"""Unit tests for include.retraining.monitor.champion: the champion's own feature list, and an
unusable champion told apart from a service that does not answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import load_model_config
from include.retraining.monitor import ChampionUnusable
from include.retraining.monitor import champion as monitor_champion
from include.retraining.tracking import UnsafeModelError, UnusableModelError
from tests.unit.monitor.fakes import CHURN, FakeModel, FakeTracker, context, frame, ref

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config():
    return load_model_config(CHURN)


def test_the_champion_is_scored_with_its_own_feature_list(config):
    ctx = context(config, tracker=FakeTracker(FakeModel(["monthly_charges", "old_feature"])))
    window = frame(pd.Series(range(5)), [*config.features.columns, "old_feature"])

    scores = monitor_champion.ChampionScorer(ctx, ref(["monthly_charges", "old_feature"])).scores(window)

    # FakeModel refuses any other column set, and scores its first column / 100.
    np.testing.assert_allclose(scores, window["monthly_charges"].to_numpy() / 100)


def test_champion_features_come_from_the_fitted_model(config):
    ctx = context(config, tracker=FakeTracker(FakeModel(["a", "b"])))

    assert monitor_champion.champion_features(ctx, "3") == ["a", "b"]


@pytest.mark.parametrize(
    "error",
    [
        UnusableModelError("models:/churn/3: the model's model.skops is missing"),
        UnsafeModelError("models:/churn/3 holds types outside the project's list"),
    ],
)
def test_a_champion_that_cannot_be_loaded_is_unusable_with_an_alert(config, error):
    ctx = context(config, tracker=FakeTracker(error))

    with pytest.raises(ChampionUnusable, match=r"champion_unusable: model 'churn' champion version 3") as caught:
        monitor_champion.champion_features(ctx, "3")
    alert = caught.value.to_alert({}, "monitor_churn/r1/champion_unusable")
    assert alert.kind == "champion_unusable" and "version 3" in alert.lines[0]


def test_a_model_without_its_feature_names_is_unusable(config):
    ctx = context(config, tracker=FakeTracker(object()))

    with pytest.raises(ChampionUnusable, match="does not record the feature columns"):
        monitor_champion.champion_features(ctx, "3")


@pytest.mark.parametrize(
    "error", [ConnectionRefusedError("tracking server down"), MemoryError(), OSError(28, "No space left on device")]
)
def test_a_service_or_worker_error_while_loading_is_not_read_as_a_broken_champion(config, error):
    ctx = context(config, tracker=FakeTracker(error))

    with pytest.raises(type(error)):
        monitor_champion.champion_features(ctx, "3")


@pytest.mark.parametrize("error", [MemoryError(), OSError(5, "Input/output error")])
def test_a_worker_error_while_scoring_is_not_read_as_a_broken_champion(config, error):
    class Failing(FakeModel):
        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            raise error

    ctx = context(config, tracker=FakeTracker(Failing(["monthly_charges"])))
    window = frame(pd.Series(range(5)), ["monthly_charges"])

    with pytest.raises(type(error)):
        monitor_champion.ChampionScorer(ctx, ref(["monthly_charges"])).scores(window)


def test_a_champion_that_cannot_score_the_window_is_unusable(config):
    ctx = context(config, tracker=FakeTracker(FakeModel(["monthly_charges"])))
    window = frame(pd.Series(range(5)), ["monthly_charges"]).assign(monthly_charges="n/a")

    with pytest.raises(ChampionUnusable, match="scoring failed"):
        monitor_champion.ChampionScorer(ctx, ref(["monthly_charges"])).scores(window)
