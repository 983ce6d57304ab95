"""The estimator a model file names, built at train time: a dotted path is imported and built with
`training.params`, and whatever is wrong with it (no module, not a class, the wrong task, params
its constructor refuses) stops the run with the model, the key and the fix; the user's feature
steps go before the built-in preprocessing; the skops loader trusts the project's types plus
exactly the model file's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo.churn_data import generate_snapshots
from include.retraining.config import ModelConfig, ModelConfigError, load_model_config
from include.retraining.learning import (
    SKOPS_TRUSTED_TYPES,
    build_estimator,
    build_pipeline,
    fit,
    predict_scores,
    split_by_time,
    trusted_types,
)

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")


def _with(config: ModelConfig = CONFIG, steps: list[str] | None = None, **training: Any) -> ModelConfig:
    features = config.features.model_copy(update={"steps": steps or []})
    return config.model_copy(update={"training": config.training.model_copy(update=training), "features": features})


def test_a_dotted_path_is_built_with_the_params_and_the_models_seed() -> None:
    from sklearn.ensemble import ExtraTreesClassifier

    config = _with(estimator="sklearn.ensemble.ExtraTreesClassifier", params={"n_estimators": 7}, seed=3)

    estimator = build_estimator(config)

    assert type(estimator) is ExtraTreesClassifier
    assert (estimator.n_estimators, estimator.random_state) == (7, 3)


@pytest.mark.parametrize(
    ("estimator", "params", "says"),
    [
        ("surely_not_installed.Model", {}, r"cannot import module 'surely_not_installed'.*install the package"),
        ("sklearn.ensemble.NoSuchForest", {}, r"module 'sklearn.ensemble' has no 'NoSuchForest'"),
        ("sklearn.base.clone", {}, r"is a function, not a class; name the class itself"),
        ("tests.support_models.make_forest", {}, r"is a function, not a class"),
        ("sklearn.linear_model.Ridge", {}, r"has no predict_proba; a classification model needs"),
        ("tests.support_models.NoProbabilities", {}, r"has no predict_proba"),
        ("sklearn.ensemble.ExtraTreesClassifier", {"n_trees": 5}, r"n_trees.*unexpected keyword.*'n_estimators'"),
    ],
)
def test_a_dotted_path_that_cannot_serve_the_model_names_the_model_the_key_and_the_fix(
    estimator: str, params: dict, says: str
) -> None:
    with pytest.raises(ModelConfigError, match=says) as error:
        build_estimator(_with(estimator=estimator, params=params))
    assert f"model 'churn': training.estimator {estimator!r}" in str(error.value)


def test_a_module_that_fails_as_it_is_imported_is_named_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_model_code.py").write_text("raise RuntimeError('no credentials for the feature store')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(ModelConfigError, match=r"importing module 'broken_model_code' raised.*feature store.*fix"):
        build_estimator(_with(estimator="broken_model_code.Model", params={}))


def test_an_estimator_for_another_task_is_refused_by_its_scikit_learn_tags() -> None:
    regression = CONFIG.model_copy(
        update={"task": "regression", "gate": CONFIG.gate.model_copy(update={"metric": None})}
    )

    with pytest.raises(ModelConfigError, match=r"is not a regressor by scikit-learn's tags.*task is 'regression'"):
        build_estimator(_with(regression, estimator="sklearn.ensemble.ExtraTreesClassifier", params={}))


def test_feature_steps_run_before_the_built_in_preprocessing_inside_the_model() -> None:
    rows = generate_snapshots(600, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), seed=2)
    config = _with(steps=["tests.support_models.CapCharges"], params={"max_iter": 20})
    train = split_by_time(rows, config).train

    model = fit(config, train)

    assert [name for name, _ in model.steps] == ["step_0_capcharges", "features", "model"]
    cap = model.steps[0][1].cap_  # fitted with the pipeline, on the training rows
    assert cap == pytest.approx(train["monthly_charges"].quantile(0.99))
    huge = train.head(1)[config.features.columns].assign(monthly_charges=cap * 100)
    at_cap = huge.assign(monthly_charges=cap)
    assert (model[:-1].transform(huge) == model[:-1].transform(at_cap)).all()
    assert predict_scores(model, huge, "classification") == pytest.approx(
        predict_scores(model, at_cap, "classification")
    )


@pytest.mark.parametrize(
    ("step", "says"),
    [
        ("tests.support_models.NeedsArgument", r"built without arguments: give every parameter a default"),
        ("tests.support_models.NoProbabilities", r"has no transform; a step must be a scikit-learn transformer"),
        ("tests.support_models.Missing", r"features.steps entry 'tests.support_models.Missing'.*has no 'Missing'"),
    ],
)
def test_a_feature_step_that_is_no_transformer_names_the_entry(step: str, says: str) -> None:
    with pytest.raises(ModelConfigError, match=says):
        build_pipeline(_with(steps=[step]))


def test_the_loader_trusts_the_projects_types_plus_exactly_the_model_files() -> None:
    own = "tests.support_models.SmallForest"

    assert trusted_types(CONFIG) == SKOPS_TRUSTED_TYPES
    assert trusted_types(_with(trusted_types=[own, "numpy.dtype"])) == [*SKOPS_TRUSTED_TYPES, own]
