"""What the challenger is compared with: the champion scored on its own feature list, else
`previous_champion`, else nothing (the threshold decides, and without one the challenger is
blocked), each fallback saying why. Only our code failing on the model makes it unusable; a
worker's trouble (memory, disk) propagates so the task is retried."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.learning import model_features
from include.retraining.promotion import Baseline, GateDecision, baseline_for, fail_closed, score_version
from include.retraining.tracking import UnusableModelError
from tests.unit.promotion.fakes import CONFIG, MovingRegistry, Scorer, VersionTracker, context

pytestmark = pytest.mark.unit

# The registry hands out the version it read from the alias, so the baseline loads that version.
CHAMPION_URI, PREVIOUS_URI = "models:/churn/2", "models:/churn/1"
OWN = ["tenure_months", "monthly_charges"]  # fewer columns than the model file lists today


def _holdout(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: rng.normal(size=rows) for c in CONFIG.features.numeric})
    for column in CONFIG.features.categorical:
        frame[column] = rng.choice(["a", "b"], rows)
    return frame


def _ctx(tmp_path: Path, models: dict, previous: bool = True):
    aliases = {"champion": "2", **({"previous_champion": "1"} if previous else {})}
    registry = MovingRegistry(versions={"1": "run-1", "2": "run-2"}, aliases=aliases)
    return context(tmp_path, registry, VersionTracker(models=models))


def test_model_features_prefers_the_fitted_list() -> None:
    class Fitted:
        feature_names_in_ = ["a", "b"]

    assert model_features(Fitted(), ["a", "b", "c"]) == ["a", "b"]
    assert model_features(object(), ["a", "b", "c"]) == ["a", "b", "c"]


def test_a_version_is_scored_on_its_own_feature_list(tmp_path: Path) -> None:
    holdout = _holdout()
    ctx = _ctx(tmp_path, {CHAMPION_URI: Scorer({"tenure_months": 1.0, "monthly_charges": -0.5}, OWN)})

    scores = score_version(ctx, CHAMPION_URI, holdout)

    expected = 1 / (1 + np.exp(-(holdout["tenure_months"] - 0.5 * holdout["monthly_charges"]).to_numpy()))
    np.testing.assert_allclose(scores, expected)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Scorer({"tenure_months": 1.0}, ["tenure_months", "dropped_column"]), r"needs features \['dropped_column'\]"),
        (Scorer({"tenure_months": 1.0}, ["contract"]), "cannot score the holdout"),
        (UnusableModelError("model.skops: BadZipFile"), "BadZipFile"),
    ],
    ids=["missing feature", "scoring fails", "does not load"],
)
def test_a_version_that_cannot_score_the_holdout_is_unusable(tmp_path: Path, model, message: str) -> None:
    with pytest.raises(UnusableModelError, match=message):
        score_version(_ctx(tmp_path, {CHAMPION_URI: model}), CHAMPION_URI, _holdout())


def test_no_champion_no_baseline(tmp_path: Path) -> None:
    ctx = context(tmp_path, MovingRegistry(versions={"1": "run-1"}))
    assert baseline_for(ctx, None, _holdout()) == Baseline()
    assert Baseline().reason_prefix == ""


def test_a_usable_champion_is_the_baseline(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {CHAMPION_URI: Scorer({"tenure_months": 1.0}, OWN), PREVIOUS_URI: UnusableModelError("x")})

    baseline = baseline_for(ctx, ctx.registry.champion(), _holdout())

    assert baseline.version == "2" and baseline.unusable is None and baseline.scores is not None
    assert baseline.reason_prefix == ""


def test_an_unusable_champion_is_replaced_by_a_usable_previous_champion(tmp_path: Path) -> None:
    models = {
        CHAMPION_URI: UnusableModelError("model.skops: BadZipFile"),
        PREVIOUS_URI: Scorer({"tenure_months": 1}, OWN),
    }
    ctx = _ctx(tmp_path, models)

    baseline = baseline_for(ctx, ctx.registry.champion(), _holdout())

    assert baseline.version == "1" and baseline.scores is not None
    assert baseline.unusable == "version 2: model.skops: BadZipFile"
    assert baseline.reason_prefix == (
        "champion_unusable (version 2: model.skops: BadZipFile), compared with previous_champion version 1: "
    )


@pytest.mark.parametrize("previous", ["unusable", "absent"])
def test_without_a_usable_version_there_is_no_baseline_and_the_reason_says_why(tmp_path: Path, previous: str) -> None:
    models = {CHAMPION_URI: UnusableModelError("gone"), PREVIOUS_URI: UnusableModelError("also gone")}
    ctx = _ctx(tmp_path, models, previous=previous == "unusable")

    baseline = baseline_for(ctx, ctx.registry.champion(), _holdout())

    assert baseline.scores is None and baseline.version is None
    expected = "version 2: gone" + ("; previous_champion version 1: also gone" if previous == "unusable" else "")
    assert baseline.unusable == expected
    assert baseline.reason_prefix.endswith("judged on the threshold alone: ")


class _Failing(Scorer):
    """A model whose predict raises `error`: the worker's trouble, not the model's."""

    def __init__(self, error: BaseException) -> None:
        super().__init__({"tenure_months": 1.0}, OWN)
        self.error = error

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [MemoryError(), OSError(5, "Input/output error"), ConnectionResetError(104, "reset"), RuntimeError("pool")],
    ids=["memory", "disk", "network", "runtime"],
)
def test_a_workers_error_while_scoring_the_champion_propagates_and_is_not_unusable(
    tmp_path: Path, error: BaseException
) -> None:
    ctx = _ctx(tmp_path, {CHAMPION_URI: _Failing(error), PREVIOUS_URI: Scorer({"tenure_months": 1.0}, OWN)})

    with pytest.raises(type(error)):
        baseline_for(ctx, ctx.registry.champion(), _holdout())


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), MemoryError()], ids=["disk", "memory"])
def test_a_workers_error_while_loading_the_champion_propagates(tmp_path: Path, error: BaseException) -> None:
    ctx = _ctx(tmp_path, {CHAMPION_URI: error, PREVIOUS_URI: Scorer({"tenure_months": 1.0}, OWN)})

    with pytest.raises(type(error)):
        baseline_for(ctx, ctx.registry.champion(), _holdout())


@pytest.mark.parametrize(
    "error",
    [ValueError("could not convert string to float"), TypeError("bad dtype"), KeyError("contract")],
    ids=["value", "type", "key"],
)
def test_the_models_own_error_on_our_columns_is_unusable(tmp_path: Path, error: BaseException) -> None:
    ctx = _ctx(tmp_path, {CHAMPION_URI: _Failing(error)}, previous=False)

    baseline = baseline_for(ctx, ctx.registry.champion(), _holdout())

    assert baseline.scores is None and baseline.unusable.startswith("version 2: it cannot score the holdout")


def test_the_baseline_is_the_version_read_from_the_alias_even_if_the_alias_moves(tmp_path: Path) -> None:
    models = {CHAMPION_URI: Scorer({"tenure_months": 1.0}, OWN), "models:/churn/3": UnusableModelError("other")}
    ctx = _ctx(tmp_path, models)
    read = ctx.registry.champion()
    ctx.registry.versions["3"] = "run-3"
    ctx.registry.aliases["champion"] = "3"  # a backfill promoted version 3 meanwhile

    baseline = baseline_for(ctx, read, _holdout())

    assert baseline.version == "2" and baseline.unusable is None


def _promoting(reason: str = "first model: roc_auc 0.8000 (no gate.threshold set)") -> GateDecision:
    return GateDecision(True, reason, "roc_auc", 0.8, None, None)


def test_with_nothing_to_compare_and_no_threshold_the_fallback_blocks() -> None:
    config = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"threshold": None})})

    decision = fail_closed(config, Baseline(unusable="version 2: gone"), _promoting())

    assert not decision.promote
    assert decision.reason.startswith("no gate.threshold is set, so nothing to promote on: blocked")
    assert "set gate.threshold" in decision.reason and "rollback_churn" in decision.reason


@pytest.mark.parametrize(
    ("baseline", "threshold"),
    [
        (Baseline(unusable="version 2: gone"), 0.7),  # the threshold decides
        (Baseline(np.zeros(3), "1", unusable="version 2: gone"), None),  # compared with previous_champion
        (Baseline(), None),  # the first model of all: nothing to be unusable
    ],
    ids=["threshold set", "previous_champion compared", "first model"],
)
def test_a_fallback_with_a_comparison_or_a_threshold_keeps_the_gates_decision(
    baseline: Baseline, threshold: float | None
) -> None:
    config = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"threshold": threshold})})
    decision = _promoting()

    assert fail_closed(config, baseline, decision) is decision
