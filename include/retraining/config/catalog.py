"""What a model file may name: estimators per task with their parameters, and Evidently's
statistical tests per column kind.

Static on purpose: the DAG files parse every model file, and importing scikit-learn or
Evidently there would cost seconds per parse. tests/unit/config/test_catalog.py checks these
tables against the installed libraries, so a version bump that changes them fails a test.
"""

from __future__ import annotations

from typing import Any

from include.retraining.config.base import check_dotted_path, is_dotted_path

# YAML value kinds: "int" (not bool), "float" (int accepted), "bool", "str", "null", "list", "dict".
_HGB = {
    "learning_rate": "float",
    "max_iter": "int",
    "max_leaf_nodes": "int|null",
    "max_depth": "int|null",
    "min_samples_leaf": "int",
    "l2_regularization": "float",
    "max_features": "float",
    "max_bins": "int",
    "categorical_features": "str|list|null",
    "monotonic_cst": "list|dict|null",
    "interaction_cst": "str|list|null",
    "warm_start": "bool",
    "early_stopping": "str|bool",
    "scoring": "str|null",
    "validation_fraction": "float|null",
    "n_iter_no_change": "int",
    "tol": "float",
    "verbose": "int|bool",
    "random_state": "int|null",
    "loss": "str",
}
_FOREST = {
    "n_estimators": "int",
    "criterion": "str",
    "max_depth": "int|null",
    "min_samples_split": "int|float",
    "min_samples_leaf": "int|float",
    "min_weight_fraction_leaf": "float",
    "max_features": "str|int|float|null",
    "max_leaf_nodes": "int|null",
    "min_impurity_decrease": "float",
    "bootstrap": "bool",
    "oob_score": "bool",
    "n_jobs": "int|null",
    "random_state": "int|null",
    "verbose": "int|bool",
    "warm_start": "bool",
    "ccp_alpha": "float",
    "max_samples": "int|float|null",
    "monotonic_cst": "list|null",
}
ESTIMATOR_PARAMS: dict[tuple[str, str], dict[str, str]] = {
    ("hist_gradient_boosting", "classification"): {**_HGB, "class_weight": "str|dict|null"},
    ("hist_gradient_boosting", "regression"): {**_HGB, "quantile": "float|null"},
    ("random_forest", "classification"): {**_FOREST, "class_weight": "str|dict|list|null"},
    ("random_forest", "regression"): _FOREST,
    ("logistic_regression", "classification"): {
        "C": "float",
        "class_weight": "str|dict|null",
        "dual": "bool",
        "fit_intercept": "bool",
        "intercept_scaling": "float",
        "l1_ratio": "float|null",
        "max_iter": "int",
        "n_jobs": "int|null",
        "penalty": "str|null",
        "random_state": "int|null",
        "solver": "str",
        "tol": "float",
        "verbose": "int|bool",
        "warm_start": "bool",
    },
    ("ridge", "regression"): {
        "alpha": "float|list",
        "copy_X": "bool",
        "fit_intercept": "bool",
        "max_iter": "int|null",
        "positive": "bool",
        "random_state": "int|null",
        "solver": "str",
        "tol": "float",
    },
}

NUMERIC_STATTESTS = frozenset(
    {"anderson", "cramer_von_mises", "ed", "es", "hellinger", "jensenshannon", "kl_div", "ks", "mannw"}
    | {"empirical_mmd", "psi", "t_test", "wasserstein"}
)
CATEGORICAL_STATTESTS = frozenset(
    {"chisquare", "fisher_exact", "g_test", "hellinger", "jensenshannon", "kl_div", "psi", "TVD", "z"}
)


def _is_kind(value: Any, kind: str) -> bool:
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "null": lambda v: v is None,
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
    }
    return checks[kind](value)


BUILTIN_ESTIMATORS = frozenset(name for name, _ in ESTIMATOR_PARAMS)


def check_estimator_name(value: str) -> str:
    """A built-in estimator name or the dotted path of a class (checked for its shape only)."""
    if value in BUILTIN_ESTIMATORS or is_dotted_path(value):
        return value
    raise ValueError(
        f"training.estimator {value!r} is neither a built-in estimator ({sorted(BUILTIN_ESTIMATORS)}) nor a "
        "dotted path to an estimator class; use one of those names or `package.module.Class` "
        "(e.g. sklearn.ensemble.ExtraTreesClassifier)"
    )


# Modules whose names, trusted, would let a model file run code or reach the system as skops
# loads it (eval, os.system, operator.methodcaller, ...): no model needs them, whatever a file says.
NEVER_TRUSTED_MODULES = frozenset(
    {"builtins", "code", "ctypes", "importlib", "marshal", "nt", "operator", "os", "pickle", "posix", "pty"}
    | {"runpy", "shutil", "socket", "subprocess", "sys"}
)


def check_trusted_type(value: str) -> str:
    """A `training.trusted_types` entry: a dotted path, outside the modules no model may trust."""
    check_dotted_path(value, "training.trusted_types entry")
    module = value.partition(".")[0]
    if module in NEVER_TRUSTED_MODULES:
        raise ValueError(
            f"training.trusted_types entry {value!r} is in module {module!r}, whose names run code or reach the "
            "system when a model is loaded; remove it: no model needs it, and a model file that asks for it is "
            "how a crafted model would run code in a worker"
        )
    return value


def estimators_for(task: str) -> list[str]:
    return sorted(name for name, kind in ESTIMATOR_PARAMS if kind == task)


def estimator_problems(estimator: str, task: str, params: dict[str, Any]) -> list[str]:
    """What is wrong with `training.estimator` / `training.params` for the task, each with its fix.
    A dotted path's parameters are its constructor's to judge, when the model is trained."""
    if estimator not in BUILTIN_ESTIMATORS:
        return []
    known = ESTIMATOR_PARAMS.get((estimator, task))
    if known is None:
        return [
            f"training.estimator {estimator!r} does not fit task {task!r}; use one of {estimators_for(task)} "
            "or the dotted path of a class"
        ]
    problems = []
    for name, value in params.items():
        if name not in known:
            problems.append(
                f"training.params.{name} is not a parameter of {estimator} ({task}); valid ones: {sorted(known)}"
            )
        elif not any(_is_kind(value, kind) for kind in known[name].split("|")):
            problems.append(
                f"training.params.{name} is {value!r}; {estimator} needs {known[name].replace('|', ' or ')} there"
            )
    return problems


# Estimators that split on a category code themselves (features.categorical_encoding: native).
NATIVE_CATEGORICAL_ESTIMATORS = frozenset({"hist_gradient_boosting"})


def encoding_problems(encoding: str, estimator: str, params: dict[str, Any]) -> list[str]:
    """Why `features.categorical_encoding` does not fit the estimator, each with its fix."""
    if encoding != "native":
        return []
    if estimator not in NATIVE_CATEGORICAL_ESTIMATORS:
        return [
            f"features.categorical_encoding 'native' needs an estimator that splits on categories itself "
            f"({sorted(NATIVE_CATEGORICAL_ESTIMATORS)}), not training.estimator {estimator!r}; "
            "set features.categorical_encoding: one_hot or training.estimator: hist_gradient_boosting"
        ]
    if "categorical_features" in params:
        return [
            "training.params.categorical_features conflicts with features.categorical_encoding 'native', "
            "which sets it from features.categorical; remove training.params.categorical_features"
        ]
    return []


def stattest_problems(stattest: str | dict[str, str] | None, numeric: list[str], categorical: list[str]) -> list[str]:
    """Unknown or misapplied `monitor.stattest` names, each with the valid choices."""
    if stattest is None:
        return []
    if isinstance(stattest, str):
        needed = [(NUMERIC_STATTESTS, "numeric", numeric), (CATEGORICAL_STATTESTS, "categorical", categorical)]
        return [
            f"monitor.stattest {stattest!r} does not apply to the {kind} features; use one of {sorted(valid)}, "
            "or a dict with separate 'numeric' and 'categorical' tests"
            for valid, kind, columns in needed
            if columns and stattest not in valid
        ]
    kinds = {"numeric": NUMERIC_STATTESTS, "categorical": CATEGORICAL_STATTESTS}
    kinds |= {c: NUMERIC_STATTESTS for c in numeric} | {c: CATEGORICAL_STATTESTS for c in categorical}
    problems = []
    for key, method in stattest.items():
        if key not in kinds:
            problems.append(f"monitor.stattest.{key}: not 'numeric', 'categorical' or a feature column; fix the key")
        elif method not in kinds[key]:
            problems.append(f"monitor.stattest.{key} {method!r} does not apply there; use one of {sorted(kinds[key])}")
    return problems
