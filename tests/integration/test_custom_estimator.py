"""A model of the user's own code, through the real train, log, gate, promote and load path on a real
MLflow store: `training.estimator` names a class of theirs (`tests.support_models.SmallForest`, extra
trees under their own name), `features.steps` a transformer of theirs, and `training.trusted_types`
both. The skops loader trusts exactly the project's types plus those: a model needing one the file
does not list is refused before it is logged, and a loader whose model file no longer lists a type
refuses the champion that holds it, naming the type and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining import retrain
from include.retraining.config import ModelConfig, ModelConfigError, load_model_config
from include.retraining.learning import model_features, predict_scores
from include.retraining.retrain import Extracted
from include.retraining.tracking import UnsafeModelError
from serving.source import RegistrySource
from tests.support import REPO
from tests.support_models import local_context

pytestmark = pytest.mark.integration

ESTIMATOR, STEP = "tests.support_models.SmallForest", "tests.support_models.CapCharges"
SHIPPED = load_model_config(REPO / "include" / "models" / "churn.yaml")


def _config(trusted: list[str]) -> ModelConfig:
    training = SHIPPED.training.model_copy(
        update={
            "estimator": ESTIMATOR,
            "params": {"n_estimators": 40, "min_samples_leaf": 10},
            "trusted_types": trusted,
        }
    )
    features = SHIPPED.features.model_copy(update={"steps": [STEP]})
    return SHIPPED.model_copy(update={"training": training, "features": features})


def test_a_users_estimator_and_step_are_trained_logged_promoted_and_served(
    churn_snapshot: Extracted, tmp_path: Path
) -> None:
    config = _config([ESTIMATOR, STEP])
    ctx = local_context(config, tmp_path)

    trained = retrain.train(ctx, churn_snapshot)
    evaluated, _ = retrain.evaluate(ctx, churn_snapshot, trained)
    promotion, _ = retrain.promote(ctx, churn_snapshot, trained, evaluated)

    assert evaluated.promote and promotion.version == "1", evaluated.reason
    served = RegistrySource(ctx.settings, config).load("1")  # as `python -m serving` loads the champion
    assert [type(step).__name__ for _, step in served.steps] == ["CapCharges", "ColumnTransformer", "SmallForest"]
    assert model_features(served, []) == list(config.features.columns)
    rows = ctx.tracker.training_frame(trained.run_id)[config.features.columns].head(50)
    logged = ctx.tracker.load_model(trained.model_uri)
    assert (predict_scores(served, rows, "classification") == predict_scores(logged, rows, "classification")).all()

    narrower = _config([ESTIMATOR])  # the model file stopped trusting its step's class
    with pytest.raises(UnsafeModelError, match=rf"\['{STEP}'\].*add them to training.trusted_types"):
        RegistrySource(ctx.settings, narrower).load("1")


def test_a_model_needing_a_type_its_file_does_not_trust_is_refused_before_it_is_logged(
    churn_snapshot: Extracted, tmp_path: Path
) -> None:
    ctx = local_context(_config([ESTIMATOR]), tmp_path)

    with pytest.raises(
        ModelConfigError, match=rf"model 'churn'.*do(es)? not trust: \['{STEP}'\].*training.trusted_types"
    ):
        retrain.train(ctx, churn_snapshot)

    experiment = ctx.tracker.ensure_experiment("churn")
    assert ctx.tracker.client.search_runs([experiment]) == [], "a model that could never load was logged"
