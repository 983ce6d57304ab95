"""The estimator a model file names, built at train time: one of the four built-in names, or the
dotted path of any scikit-learn-compatible class (`training.estimator`), with the user's own
transformers (`features.steps`); and the types the skops loader may trust for that model.

The model file checks only the shape of a dotted path (the DAG files parse it, and an import there
would cost every parse); the class is imported here, and whatever is wrong with it is a
`ModelConfigError` naming the model, the key and the fix.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from include.retraining.config import BUILTIN_ESTIMATORS, ESTIMATOR_KIND, ModelConfig, ModelConfigError

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

# Types the skops format must be told to trust when loading our models: the feature
# transformer's own functions and the estimators' tree structures. Listed, not discovered,
# so a model carrying anything else fails loudly at logging time. Native categories: the
# histogram booster keeps its own input check, functools.partial(check_array, ...); skops still
# checks the function a partial wraps against this list, so trusting partial trusts no callable.
# A model file adds its own (`training.trusted_types`): `trusted_types(config)`.
SKOPS_TRUSTED_TYPES = [
    "functools.partial",
    "include.retraining.features._as_float",
    "include.retraining.features._as_text",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
]


def trusted_types(config: ModelConfig) -> list[str]:
    """What the skops loader may trust for this model: the project's list plus exactly the model
    file's `training.trusted_types`; a model asking for anything else is refused."""
    return [*SKOPS_TRUSTED_TYPES, *(t for t in config.training.trusted_types if t not in SKOPS_TRUSTED_TYPES)]


def _builtin_class(estimator: str, task: str) -> type[BaseEstimator]:
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    registry: dict[tuple[str, str], type[BaseEstimator]] = {
        ("hist_gradient_boosting", "classification"): HistGradientBoostingClassifier,
        ("hist_gradient_boosting", "regression"): HistGradientBoostingRegressor,
        ("random_forest", "classification"): RandomForestClassifier,
        ("random_forest", "regression"): RandomForestRegressor,
        ("logistic_regression", "classification"): LogisticRegression,
        ("ridge", "regression"): Ridge,
    }
    try:
        return registry[(estimator, task)]
    except KeyError:
        fits = sorted(name for name, kind in registry if kind == task)
        raise ModelConfigError(
            f"training.estimator {estimator!r} is not available for {task}; use one of {fits}"
        ) from None


def import_class(path: str, model: str, key: str) -> type:
    """The class at dotted `path`; a `ModelConfigError` naming the model and `key` when the module
    cannot be imported, has no such name, or the name is not a class."""
    module_name, _, name = path.rpartition(".")
    where = f"model {model!r}: {key} {path!r}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelConfigError(
            f"{where}: cannot import module {module_name!r} ({exc}); install the package that provides it "
            "on every worker (and the serving image), or put your module under include/ and fix the path"
        ) from exc
    except Exception as exc:  # the module's own code fails as it is imported: a retry fails the same way
        raise ModelConfigError(f"{where}: importing module {module_name!r} raised {exc!r}; fix that module") from exc
    found = getattr(module, name, None)
    if found is None:
        raise ModelConfigError(f"{where}: module {module_name!r} has no {name!r}; correct the class name")
    if not inspect.isclass(found):
        raise ModelConfigError(
            f"{where} is a {type(found).__name__}, not a class; name the class itself (the pipeline builds it)"
        )
    return found


def _construct(cls: type, params: dict[str, Any], where: str, fix: str) -> Any:
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        try:
            accepted = sorted(p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs"))
        except (TypeError, ValueError):
            accepted = []
        raise ModelConfigError(
            f"{where}: building {cls.__name__}({', '.join(sorted(params))}) failed: {exc}; "
            f"its parameters: {accepted}. {fix}"
        ) from exc


# Per task: what scikit-learn's tags must say, the check that reads them, and the mixin that sets them.
_TASK_KIND = {
    "classification": ("classifier", "is_classifier", "ClassifierMixin"),
    "regression": ("regressor", "is_regressor", "RegressorMixin"),
}


def _check_fits_task(estimator: Any, task: str, where: str) -> None:
    import sklearn.base

    needed = ("fit", "predict", "predict_proba") if task == "classification" else ("fit", "predict")
    missing = [method for method in needed if not callable(getattr(estimator, method, None))]
    if missing:
        raise ModelConfigError(
            f"{where} has no {', '.join(missing)}; a {task} model needs {', '.join(needed)}: "
            "name a scikit-learn-compatible estimator class"
        )
    kind, check, mixin = _TASK_KIND[task]
    try:
        fits = getattr(sklearn.base, check)(estimator)
    except AttributeError:  # no scikit-learn tags at all
        fits = False
    if not fits:
        raise ModelConfigError(
            f"{where} is not a {kind} by scikit-learn's tags ({check} is false), but the model's task is "
            f"{task!r}; name a {kind}, or give your class sklearn.base.{mixin} (before BaseEstimator in its bases)"
        )


def build_estimator(config: ModelConfig) -> BaseEstimator:
    """The unfitted estimator `training.estimator` names, built with `training.params`."""
    estimator = config.training.estimator
    params: dict[str, Any] = dict(config.training.params)
    if estimator not in BUILTIN_ESTIMATORS:
        return _custom_estimator(config, params)
    cls = _builtin_class(estimator, ESTIMATOR_KIND[config.task])
    if config.features.categorical_encoding == "native" and config.features.categorical:
        from include.retraining.features import native_categorical_positions

        params["categorical_features"] = native_categorical_positions(config.features)
    if "random_state" in cls().get_params():
        params.setdefault("random_state", config.training.seed)
    unknown = sorted(set(params) - set(cls().get_params()))
    if unknown:
        raise ModelConfigError(
            f"model {config.name!r}: training.params {unknown} are not parameters of "
            f"{cls.__name__}; valid ones: {sorted(cls().get_params())}"
        )
    return cls(**params)


def _custom_estimator(config: ModelConfig, params: dict[str, Any]) -> Any:
    """A dotted-path estimator: imported, built with the params as given, checked against the task;
    its `random_state` (when it has one and the file does not set it) is `training.seed`."""
    path = config.training.estimator
    where = f"model {config.name!r}: training.estimator {path!r}"
    cls = import_class(path, config.name, "training.estimator")
    built = _construct(cls, params, where, "Fix training.params in the model file")
    _check_fits_task(built, ESTIMATOR_KIND[config.task], where)
    get_params = getattr(built, "get_params", None)
    if "random_state" not in params and callable(get_params) and "random_state" in get_params():
        built.set_params(random_state=config.training.seed)
    return built


def feature_steps(config: ModelConfig) -> list[tuple[str, Any]]:
    """`features.steps` as named pipeline steps, each class built without arguments."""
    steps = []
    for i, path in enumerate(config.features.steps):
        where = f"model {config.name!r}: features.steps entry {path!r}"
        cls = import_class(path, config.name, "features.steps entry")
        built = _construct(cls, {}, where, "A step is built without arguments: give every parameter a default")
        missing = [m for m in ("fit", "transform") if not callable(getattr(built, m, None))]
        if missing:
            raise ModelConfigError(
                f"{where} has no {', '.join(missing)}; a step must be a scikit-learn transformer (fit, transform)"
            )
        steps.append((f"step_{i}_{cls.__name__.lower()}", built))
    return steps
