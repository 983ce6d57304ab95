"""Reading model files from disk: every way a file can be unusable is a `ModelConfigError` naming
the file, the key and the fix, and one bad file never hides the good ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from include.retraining.config import (
    ModelConfigError,
    discover_model_files,
    load_model_config,
    load_model_configs,
    parse_model_config,
)

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml"


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


@pytest.mark.parametrize(
    ("change", "key", "fix"),
    [
        (lambda d: d.update(traning={}), "traning", "did you mean 'training'?"),
        (lambda d: d.pop("target"), "target", "add this key"),
        (lambda d: d.update(task="ranking"), "task", "correct the value"),
        (lambda d: d["source"].update(table="users; drop table x"), "source.table", "identifier"),
        (lambda d: d["features"].update(numeric=["tenure months"]), "features.numeric", "identifier"),
        (lambda d: d["gate"].update(metric="rmse"), "rmse", "roc_auc"),
        (lambda d: d.update(schedule="every monday"), "schedule", "cron"),
        (lambda d: d["training"].update(holdout_fraction=1.5), "training.holdout_fraction", "0.9"),
        (lambda d: d["monitor"].update(critical_features=["nope"]), "critical_features", "nope"),
        (lambda d: d["source"].update(query="select 1"), "source", "exactly one of"),
        (lambda d: d["training"].update(window_days=0), "training.window_days", "set it above 0, or remove the key"),
        (lambda d: d["monitor"].update(window_days=-7), "monitor.window_days", "the default (7)"),
        (lambda d: d["training"].update(sample_rows=10), "training.sample_rows", "at or above 1000"),
    ],
)
def test_bad_values_name_the_file_the_key_and_the_fix(tmp_path: Path, churn: dict, change, key: str, fix: str) -> None:
    change(churn)
    path = _write(tmp_path, churn)
    with pytest.raises(ModelConfigError) as error:
        load_model_config(path)
    message = str(error.value)
    assert str(path) in message and key in message and fix in message


def test_name_must_match_file(tmp_path: Path, churn: dict) -> None:
    with pytest.raises(ModelConfigError, match="rename the file"):
        load_model_config(_write(tmp_path, churn, name="other"))


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "churn.yaml"
    path.write_text(CHURN.read_text() + "\ntarget: churned\n")

    with pytest.raises(ModelConfigError, match=r"key 'target' appears twice \(lines \d+ and \d+\); keep one"):
        load_model_config(path)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"- a\n- b\n", "expected a YAML mapping"),
        (b"name: \xff\n", "not UTF-8"),
        (b"name: [unclosed", "not valid YAML"),
    ],
)
def test_a_file_that_is_not_a_model_mapping_is_named(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "churn.yaml"
    path.write_bytes(content)

    with pytest.raises(ModelConfigError, match=says) as error:
        load_model_config(path)

    assert str(path) in str(error.value)


def test_parse_checks_a_mapping_against_the_path_it_came_from() -> None:
    raw = yaml.safe_load(CHURN.read_text())
    assert parse_model_config(raw, Path("churn.yaml")).name == "churn"
    with pytest.raises(ModelConfigError, match="rename the file to churn.yaml"):
        parse_model_config(raw, Path("models/spend.yaml"))


def test_one_bad_file_does_not_hide_the_good_ones(tmp_path: Path, churn: dict) -> None:
    _write(tmp_path, churn)
    (tmp_path / "bad.yaml").write_text("name: [unclosed")

    configs, errors = load_model_configs(tmp_path)

    assert [c.name for c in configs] == ["churn"]
    assert list(errors) == [tmp_path / "bad.yaml"] and "not valid YAML" in str(errors[tmp_path / "bad.yaml"])


def test_a_model_with_two_files_is_an_error_for_both_and_the_others_load(tmp_path: Path, churn: dict) -> None:
    _write(tmp_path, churn)
    (tmp_path / "spend.yaml").write_text("name: spend\n")
    (tmp_path / "spend.yml").write_text("name: spend\n")
    (tmp_path / "notes.txt").write_text("not a model")

    configs, errors = load_model_configs(tmp_path)

    assert [c.name for c in configs] == ["churn"] and discover_model_files(tmp_path) == [tmp_path / "churn.yaml"]
    assert sorted(errors) == [tmp_path / "spend.yaml", tmp_path / "spend.yml"]
    assert all("has two files (spend.yaml and spend.yml)" in str(e) for e in errors.values())


def test_a_missing_models_folder_has_no_models() -> None:
    assert load_model_configs(Path("/nonexistent/models")) == ([], {})
