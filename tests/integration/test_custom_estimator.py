"""A model of the user's own code, through the real train, log, gate, promote and load path on a real
MLflow store: `training.estimator` names a class of theirs (`tests.support_models.SmallForest`, extra
trees under their own name), `features.steps` a transformer of theirs, and `training.trusted_types`
both. The skops loader trusts exactly the project's types plus those: a model needing one the file
does not list is refused before it is logged, and a loader whose model file no longer lists a type
refuses the champion that holds it, naming the type and the key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.retraining import retrain
from include.retraining.artifacts import write_snapshot
from include.retraining.common import Window, load_settings
from include.retraining.config import ModelConfig, ModelConfigError, load_model_config
from include.retraining.learning import model_features, predict_scores
from include.retraining.retrain import Extracted
from include.retraining.runs import RunInfo, StepContext
from include.retraining.tracking import UnsafeModelError
from include.retraining.warehouse import Database
from serving.source import RegistrySource
from tests.support import REPO

pytestmark = pytest.mark.integration

ESTIMATOR, STEP = "tests.support_models.SmallForest", "tests.support_models.CapCharges"
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
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


def _context(config: ModelConfig, tmp_path: Path) -> StepContext:
    """The production context (its tracker trusts what the config allows), the promotion log in SQLite."""
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    ctx = StepContext.create(config, settings, RunInfo("retrain_churn", "manual__1", WINDOW.end))
    return replace(ctx, pipeline_db=Database(f"sqlite:///{tmp_path / 'pipeline.db'}"))


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Extracted:
    from demo.churn_data import generate_snapshots

    frame = generate_snapshots(3000, WINDOW.start, WINDOW.end, seed=5)
    snapshot = write_snapshot(frame, tmp_path_factory.mktemp("artifacts"), SHIPPED.name, WINDOW)
    return Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, WINDOW)


def test_a_users_estimator_and_step_are_trained_logged_promoted_and_served(
    extracted: Extracted, tmp_path: Path
) -> None:
    config = _config([ESTIMATOR, STEP])
    ctx = _context(config, tmp_path)

    trained = retrain.train(ctx, extracted)
    evaluated, _ = retrain.evaluate(ctx, extracted, trained)
    promotion, _ = retrain.promote(ctx, extracted, trained, evaluated)

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
    extracted: Extracted, tmp_path: Path
) -> None:
    ctx = _context(_config([ESTIMATOR]), tmp_path)

    with pytest.raises(
        ModelConfigError, match=rf"model 'churn'.*do(es)? not trust: \['{STEP}'\].*training.trusted_types"
    ):
        retrain.train(ctx, extracted)

    experiment = ctx.tracker.ensure_experiment("churn")
    assert ctx.tracker.client.search_runs([experiment]) == [], "a model that could never load was logged"
