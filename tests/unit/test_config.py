from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from include.retraining.config.model import ModelConfigError, load_model_config, load_model_configs

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml"


def _write(tmp_path: Path, data: dict, name: str = "churn") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def churn() -> dict:
    return yaml.safe_load(CHURN.read_text())


def test_shipped_model_file_is_valid() -> None:
    config = load_model_config(CHURN)
    assert config.retrain_dag_id == "retrain_churn"
    assert config.primary_metric == "roc_auc" and config.higher_is_better


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


@pytest.mark.parametrize(
    ("change", "key", "fix"),
    [
        (lambda d: d.update(traning={}), "traning", "remove the key"),
        (lambda d: d.pop("target"), "target", "add this key"),
        (lambda d: d.update(task="ranking"), "task", "correct the value"),
        (lambda d: d["source"].update(table="users; drop table x"), "source.table", "identifier"),
        (lambda d: d["features"].update(numeric=["tenure months"]), "features.numeric", "identifier"),
        (lambda d: d["gate"].update(metric="rmse"), "rmse", "roc_auc"),
        (lambda d: d.update(schedule="every monday"), "schedule", "cron"),
        (lambda d: d["training"].update(holdout_fraction=1.5), "training.holdout_fraction", "0.9"),
        (lambda d: d["monitor"].update(critical_features=["nope"]), "critical_features", "nope"),
        (lambda d: d["source"].update(query="select 1"), "source", "exactly one of"),
    ],
)
def test_bad_values_name_the_file_the_key_and_the_fix(tmp_path: Path, churn: dict, change, key: str, fix: str) -> None:
    change(churn)
    path = _write(tmp_path, churn)
    with pytest.raises(ModelConfigError) as error:
        load_model_config(path)
    message = str(error.value)
    assert str(path) in message and key in message and fix in message


def test_query_must_be_a_single_select(tmp_path: Path, churn: dict) -> None:
    del churn["source"]["table"]
    churn["source"]["query"] = "select * from a; delete from a"
    with pytest.raises(ModelConfigError, match="single SELECT"):
        load_model_config(_write(tmp_path, churn))


def test_name_must_match_file(tmp_path: Path, churn: dict) -> None:
    with pytest.raises(ModelConfigError, match="rename the file"):
        load_model_config(_write(tmp_path, churn, name="other"))


def test_one_bad_file_does_not_hide_the_good_ones(tmp_path: Path, churn: dict) -> None:
    _write(tmp_path, churn)
    (tmp_path / "bad.yaml").write_text("name: [unclosed")

    configs, errors = load_model_configs(tmp_path)

    assert [c.name for c in configs] == ["churn"]
    assert list(errors) == [tmp_path / "bad.yaml"] and "not valid YAML" in str(errors[tmp_path / "bad.yaml"])


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
