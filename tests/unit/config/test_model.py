"""The model file's schema (`ModelConfig` and its sections): defaults, cross-field rules and the
names derived from it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from include.retraining.config import GateConfig, ModelConfigError, ScoringConfig, load_model_config

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml"
CONFIG = load_model_config(CHURN)


def _write(tmp_path: Path, data: dict, name: str = "churn") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def churn() -> dict:
    return yaml.safe_load(CHURN.read_text())


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "name": "churn",
            "task": "regression",
            "source": {"table": "t", "timestamp_column": "ts"},
            "target": "y",
            "features": {"numeric": ["a"]},
        },
    )
    config = load_model_config(path)
    assert config.primary_metric == "rmse" and not config.higher_is_better
    assert config.monitor.drift_share == 0.3 and config.training.window_days == 180


def test_query_must_be_a_single_select(tmp_path: Path, churn: dict) -> None:
    del churn["source"]["table"]
    churn["source"]["query"] = "select * from a; delete from a"
    with pytest.raises(ModelConfigError, match="single SELECT"):
        load_model_config(_write(tmp_path, churn))


def test_sample_rows_needs_an_id_to_hash(tmp_path: Path) -> None:
    text = CHURN.read_text().replace("  id_column: customer_id\n", "")
    text = text.replace("training:\n", "training:\n  sample_rows: 100000\n")
    path = tmp_path / "churn.yaml"
    path.write_text(text)

    with pytest.raises(ModelConfigError, match="sample_rows.*source.id_column"):
        load_model_config(path)


def test_categorical_encoding_defaults_to_one_hot_and_native_fits_gradient_boosting(
    tmp_path: Path, churn: dict
) -> None:
    assert load_model_config(CHURN).features.categorical_encoding == "one_hot"
    churn["features"]["categorical_encoding"] = "native"
    assert load_model_config(_write(tmp_path, churn)).features.categorical_encoding == "native"
    regression = {
        "name": "spend",
        "task": "regression",
        "source": {"table": "t", "timestamp_column": "ts"},
        "target": "y",
        "features": {"numeric": ["a"], "categorical": ["b"], "categorical_encoding": "native"},
    }
    assert load_model_config(_write(tmp_path, regression, name="spend")).training.estimator == "hist_gradient_boosting"


@pytest.mark.parametrize(
    ("training", "says"),
    [
        ({"estimator": "random_forest", "params": {}}, r"features\.categorical_encoding 'native'.*'random_forest'"),
        ({"estimator": "logistic_regression", "params": {}}, "categorical_encoding: one_hot"),
        ({"params": {"categorical_features": [0]}}, r"conflicts.*remove training\.params\.categorical_features"),
    ],
)
def test_native_categories_refuse_other_estimators_and_a_set_categorical_features(
    tmp_path: Path, churn: dict, training: dict, says: str
) -> None:
    churn["features"]["categorical_encoding"] = "native"
    churn["training"].update(training)
    path = _write(tmp_path, churn)
    with pytest.raises(ModelConfigError, match=says) as error:
        load_model_config(path)
    assert str(path) in str(error.value)


def test_an_unknown_categorical_encoding_names_the_key(tmp_path: Path, churn: dict) -> None:
    churn["features"]["categorical_encoding"] = "target"
    with pytest.raises(ModelConfigError, match=r"features\.categorical_encoding.*one_hot"):
        load_model_config(_write(tmp_path, churn))


def test_predictions_go_to_the_output_table_else_to_the_models_own() -> None:
    bare = CONFIG.model_copy(update={"scoring": None})
    named = CONFIG.model_copy(update={"scoring": ScoringConfig(output_table="analytics.churn_scores")})

    assert bare.predictions_table == "churn_predictions"
    assert CONFIG.model_copy(update={"scoring": ScoringConfig()}).predictions_table == "churn_predictions"
    assert named.predictions_table == "analytics.churn_scores"


def test_a_model_without_a_scoring_section_scores_with_the_defaults() -> None:
    shadowed = ScoringConfig(shadow=True, schedule="0 4 * * *")

    assert CONFIG.model_copy(update={"scoring": None}).scoring_or_defaults == ScoringConfig()
    assert CONFIG.model_copy(update={"scoring": shadowed}).scoring_or_defaults is shadowed


def test_only_approval_required_waits_for_a_person(tmp_path: Path, churn: dict) -> None:
    churn["gate"]["approval"] = "required"

    assert not GateConfig().requires_approval and not CONFIG.gate.requires_approval
    assert GateConfig(approval="required").requires_approval
    assert load_model_config(_write(tmp_path, churn)).gate.requires_approval


def test_the_leakage_ceiling_defaults_by_task_and_refuses_a_metric_of_another_task(tmp_path: Path, churn: dict) -> None:
    assert CONFIG.gate.leakage.limits("classification") == {"roc_auc": 0.995}
    assert CONFIG.gate.leakage.limits("regression") == {"r2": 0.999}
    assert CONFIG.gate.leakage.single_feature == 0.99 and CONFIG.validation.max_categories == 1000
    churn["gate"]["leakage"] = {"too_good": {"rmse": 0.1}}
    with pytest.raises(ModelConfigError, match=r"gate.leakage.too_good \['rmse'\] do not fit task 'classification'"):
        load_model_config(_write(tmp_path, churn))


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("gate", {"leakage": {"too_good": {"roc_auc": float("nan")}}}, "must be finite"),
        ("gate", {"leakage": {"single_feature": 1.5}}, "gate.leakage.single_feature"),
        ("validation", {"max_categories": 1}, "validation.max_categories"),
    ],
)
def test_bad_leakage_and_category_limits_are_refused_naming_the_key(
    tmp_path: Path, churn: dict, section: str, values: dict, key: str
) -> None:
    churn[section].update(values)
    with pytest.raises(ModelConfigError, match=key):
        load_model_config(_write(tmp_path, churn))


def test_four_eyes_waits_for_a_person_who_did_not_trigger_the_run(tmp_path: Path, churn: dict) -> None:
    churn["gate"]["approval"] = "four_eyes"

    gate = load_model_config(_write(tmp_path, churn)).gate

    assert gate.requires_approval and gate.four_eyes
    assert not GateConfig(approval="required").four_eyes and not GateConfig().four_eyes


def test_a_dotted_path_estimator_loads_without_being_imported(tmp_path: Path, churn: dict) -> None:
    # Not installed anywhere: the file still loads, since the DAG parse never imports the class.
    churn["training"].update(estimator="surely_not_installed.boosting.Model", params={"anything": [1, 2]})
    churn["training"]["trusted_types"] = ["surely_not_installed.boosting.Tree"]
    churn["features"]["steps"] = ["include.models.custom.ClipOutliers"]

    config = load_model_config(_write(tmp_path, churn))

    assert config.training.estimator == "surely_not_installed.boosting.Model"
    assert config.training.params == {"anything": [1, 2]}  # the class's constructor judges them, at train time
    assert config.training.trusted_types == ["surely_not_installed.boosting.Tree"]
    assert config.features.steps == ["include.models.custom.ClipOutliers"]
    assert "surely_not_installed" not in sys.modules


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda d: d["training"].update(estimator="extra_trees"), r"key 'training.estimator'.*neither a built-in"),
        (lambda d: d["training"].update(estimator="sklearn..Ridge"), r"key 'training.estimator'.*package.module.Class"),
        (lambda d: d["training"].update(trusted_types=["my types.X"]), r"key 'training.trusted_types'.*dotted path"),
        (lambda d: d["features"].update(steps=["ClipOutliers"]), r"key 'features.steps'.*not a dotted path"),
        (lambda d: d["training"].update(trusted_types=["builtins.eval"]), r"'builtins.eval' is in module 'builtins'"),
        (lambda d: d["training"].update(trusted_types=["os.system"]), r"trusted_types.*run code.*remove it"),
        (lambda d: d["training"].update(estimator="ridge", params={}), r"'ridge' does not fit task 'classification'"),
        (lambda d: d["training"].update(params={"max_iters": 3}), r"training.params.max_iters is not a parameter"),
    ],
)
def test_a_bad_estimator_step_or_trusted_type_is_refused_at_load_naming_the_key(
    tmp_path: Path, churn: dict, edit, says: str
) -> None:
    edit(churn)
    with pytest.raises(ModelConfigError, match=says):
        load_model_config(_write(tmp_path, churn))


def test_native_categories_still_need_the_built_in_booster(tmp_path: Path, churn: dict) -> None:
    churn["features"]["categorical_encoding"] = "native"
    churn["training"].update(estimator="sklearn.ensemble.HistGradientBoostingClassifier", params={})

    with pytest.raises(ModelConfigError, match=r"categorical_encoding 'native'.*HistGradientBoostingClassifier"):
        load_model_config(_write(tmp_path, churn))


def test_alert_below_is_the_floor_of_a_metric_where_higher_is_better(tmp_path: Path, churn: dict) -> None:
    churn["monitor"]["alert_below"] = 0.7

    limit = load_model_config(_write(tmp_path, churn)).alert_limit

    assert (limit.key, limit.metric, limit.value) == ("alert_below", "roc_auc", 0.7)
    assert limit.crossed(0.69) and not limit.crossed(0.7) and not limit.crossed(None)
    assert not limit.crossed(float("nan"))


def test_alert_above_is_the_ceiling_of_a_loss() -> None:
    regression = load_model_config(CHURN.parents[2] / "examples" / "models" / "doctor_visits.yaml")
    config = regression.model_copy(update={"monitor": regression.monitor.model_copy(update={"alert_above": 4.0})})

    limit = config.alert_limit

    assert (limit.key, limit.metric) == ("alert_above", "rmse")
    assert limit.crossed(4.1) and not limit.crossed(3.9)


@pytest.mark.parametrize(
    ("metric", "monitor", "fix"),
    [
        ("roc_auc", {"alert_above": 0.3}, "use monitor.alert_below"),
        ("log_loss", {"alert_below": 0.3}, "use monitor.alert_above"),
        ("roc_auc", {"alert_below": 1.2}, "outside roc_auc's range: use a value between 0.0 and 1.0"),
        ("roc_auc", {"alert_below": 0.0}, "outside roc_auc's range"),
        ("log_loss", {"alert_above": 0.0}, "log_loss is 0 at best, so every window would alert"),
        ("roc_auc", {"alert_below": "high"}, "monitor.alert_below"),
        ("roc_auc", {"alert_below": float("nan")}, "finite number"),
    ],
    ids=["ceiling of a score", "floor of a loss", "above 1", "zero", "loss at zero", "text", "nan"],
)
def test_a_bad_alert_bound_is_refused_naming_the_key_and_the_fix(
    tmp_path: Path, churn: dict, metric: str, monitor: dict, fix: str
) -> None:
    churn["gate"] = {"metric": metric}
    churn["monitor"].update(monitor)

    with pytest.raises(ModelConfigError, match=fix.replace("(", r"\(").replace(".", r"\.")):
        load_model_config(_write(tmp_path, churn))


def test_a_multiclass_model_gates_on_macro_auc_by_default_on_its_own_holdout(tmp_path: Path, churn: dict) -> None:
    churn["task"] = "multiclass"
    churn["gate"] = {"threshold": 0.7}

    config = load_model_config(_write(tmp_path, churn))

    assert config.primary_metric == "roc_auc_ovr" and config.higher_is_better
    assert config.gate.pooled_windows == 1
    assert config.gate.leakage.limits("multiclass") == {"roc_auc_ovr": 0.995}


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"metric": "roc_auc"}, r"gate.metric 'roc_auc' does not fit task 'multiclass'.*roc_auc_ovr"),
        ({"metric": "log_loss", "pooled_windows": 4}, r"gate.pooled_windows 4: a multiclass model.*set it to 1"),
    ],
)
def test_a_multiclass_gate_refuses_what_it_cannot_decide_on(
    tmp_path: Path, churn: dict, gate: dict, message: str
) -> None:
    churn["task"] = "multiclass"
    churn["gate"] = gate

    with pytest.raises(ModelConfigError, match=message):
        load_model_config(_write(tmp_path, churn))


def test_a_multiclass_model_refuses_a_canary_naming_the_key(tmp_path: Path, churn: dict) -> None:
    churn["task"] = "multiclass"
    churn["gate"] = {"threshold": 0.7}
    churn["serving"] = {"canary": {"fraction": 0.1}}

    with pytest.raises(ModelConfigError, match=r"serving\.canary: not for a multiclass model yet"):
        load_model_config(_write(tmp_path, churn))
