"""The optional model libraries (requirements-models.txt) through the real train, log, gate, promote
and load path on a real MLflow store: a model file naming `lightgbm.LGBMClassifier` or
`xgboost.XGBClassifier` is refused until it trusts the types the trained model holds (the message
names them), then trains, is promoted, and loads in serving, the monitor and scoring with the
same scores as the model it logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining import retrain
from include.retraining.config import ModelConfig, ModelConfigError, load_model_config
from include.retraining.learning import predict_scores
from include.retraining.promotion import score_version
from include.retraining.retrain import Extracted
from serving.source import RegistrySource
from tests.support import REPO
from tests.support_models import local_context

pytestmark = pytest.mark.integration

SHIPPED = load_model_config(REPO / "include" / "models" / "churn.yaml")

LIBRARIES = {
    "lightgbm": (
        "lightgbm.LGBMClassifier",
        {"n_estimators": 60, "num_leaves": 15, "verbose": -1},
        ["collections.OrderedDict", "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier"],
    ),
    "xgboost": (
        "xgboost.XGBClassifier",
        {"n_estimators": 60, "max_depth": 4},
        ["xgboost.core.Booster", "xgboost.sklearn.XGBClassifier"],
    ),
}


def _config(library: str, trusted: list[str]) -> ModelConfig:
    estimator, params, _ = LIBRARIES[library]
    training = SHIPPED.training.model_copy(update={"estimator": estimator, "params": params, "trusted_types": trusted})
    return SHIPPED.model_copy(update={"training": training})


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_a_library_model_is_refused_until_trusted_then_trained_promoted_and_loaded_everywhere(
    library: str, churn_snapshot: Extracted, tmp_path: Path
) -> None:
    untrusted = local_context(_config(library, []), tmp_path / "untrusted")
    with pytest.raises(ModelConfigError, match=r"model 'churn': .* does not trust: \[.*\]. .*training.trusted_types"):
        retrain.train(untrusted, churn_snapshot)
    named = LIBRARIES[library][2]

    config = _config(library, named)
    ctx = local_context(config, tmp_path / "trusted")
    trained = retrain.train(ctx, churn_snapshot)
    evaluated, _ = retrain.evaluate(ctx, churn_snapshot, trained)
    promotion, _ = retrain.promote(ctx, churn_snapshot, trained, evaluated)

    assert evaluated.promote and promotion.version == "1", evaluated.reason
    assert evaluated.challenger_value > 0.75  # a real model of churn, not a constant
    rows = ctx.tracker.training_frame(trained.run_id)[config.features.columns].head(200)
    logged = predict_scores(ctx.tracker.load_model(trained.model_uri), rows, "classification")
    served = predict_scores(RegistrySource(ctx.settings, config).load("1"), rows, "classification")
    monitored = score_version(ctx, "models:/churn/1", rows)  # how the monitor and auto-rollback load a version
    assert (served == logged).all() and (monitored == logged).all()
    assert type(ctx.tracker.load_model(trained.model_uri).steps[-1][1]).__module__.startswith(library)
