"""Bad model files and bad run inputs: each is refused with a message naming the model or file,
the key and the fix, and never hides the other models' DAGs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from include.retraining.config import load_model_configs
from tests.support import REPO, run_dag

pytestmark = pytest.mark.reliability

CHURN = REPO / "include" / "models" / "churn.yaml"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder holding the shipped churn.yaml; each test adds one bad file beside it."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "churn.yaml").write_text(CHURN.read_text())
    return folder


@pytest.fixture
def real_runs(tmp_path: Path, models: Path, warehouse_db: str, airflow_db: None, monkeypatch) -> Path:
    """For real runs: the shipped churn model on the tier's warehouse, no champion, no Slack."""
    monkeypatch.setenv("RETRAINING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(models))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse_db)
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_ALERTS", raising=False)
    return tmp_path / "data"


def _model(name: str, **sections: dict) -> str:
    """The shipped model under another name, with `sections` merged in."""
    data = yaml.safe_load(CHURN.read_text())
    data["name"] = name
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return yaml.safe_dump(data)


def _refused(models: Path, bad: Path) -> str:
    """Load the folder: churn still loads, `bad` is refused; the message."""
    configs, errors = load_model_configs(models)
    assert [c.name for c in configs] == ["churn"], "the good model must still load"
    assert set(errors) == {bad}
    return str(errors[bad])


FILE_FAULTS: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "not_utf8": (
        lambda d: _write_bytes(d / "sales.yaml", _model("sales").encode().replace(b"region", b"r\xe9gion")),
        ["not UTF-8", "save the file as UTF-8"],
    ),
    "directory": (lambda d: _mkdir(d / "sales.yaml"), ["is a directory", "rename or remove it"]),
    "unreadable": (
        lambda d: _symlink(d / "sales.yaml", d / "missing-target.yaml"),
        ["cannot be read", "make it readable"],
    ),
    "duplicate_key": (
        lambda d: _write_text(d / "sales.yaml", _model("sales") + "target: other_column\n"),
        ["'target' appears twice", "keep one"],
    ),
    "empty": (lambda d: _write_text(d / "sales.yaml", ""), ["expected a YAML mapping"]),
}


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _symlink(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


@pytest.mark.parametrize("fault", sorted(FILE_FAULTS))
def test_an_unusable_file_is_named_with_its_fix_and_the_others_load(models: Path, fault: str) -> None:
    make, expected = FILE_FAULTS[fault]
    bad = make(models)

    message = _refused(models, bad)

    assert str(bad) in message
    for words in expected:
        assert words in message


def test_two_files_for_one_model_are_both_refused(models: Path) -> None:
    (models / "sales.yaml").write_text(_model("sales"))
    (models / "sales.yml").write_text(_model("sales"))

    configs, errors = load_model_configs(models)

    assert [c.name for c in configs] == ["churn"]
    assert set(errors) == {models / "sales.yaml", models / "sales.yml"}
    for path, error in errors.items():
        assert str(path) in str(error) and "sales.yaml and sales.yml" in str(error) and "keep one" in str(error)


KEY_FAULTS: dict[str, tuple[dict, list[str]]] = {
    "labels_never_mature": (
        {"training": {"window_days": 7, "label_delay_days": 7}},
        ["training.label_delay_days (7)", "training.window_days (7)", "raise window_days"],
    ),
    "estimator_for_another_task": (
        {"training": {"estimator": "ridge", "params": {}}},
        ["training.estimator 'ridge'", "'classification'", "use one of ['hist_gradient_boosting'"],
    ),
    "unknown_param": (
        {"training": {"params": {"max_iterations": 100}}},
        ["training.params.max_iterations", "valid ones"],
    ),
    "param_of_the_wrong_type": (
        {"training": {"params": {"max_iter": "abc"}}},
        ["training.params.max_iter", "'abc'", "needs int"],
    ),
    "misspelled_key": (
        {"monitor": {"cooldwn_hours": 12}},
        ["key 'monitor.cooldwn_hours'", "did you mean 'monitor.cooldown_hours'?", "valid keys of monitor:"],
    ),
    "unknown_section": (
        {"trainig": {"window_days": 7}},
        ["key 'trainig'", "did you mean 'training'?", "valid keys: "],
    ),
    "unknown_key_nothing_close": (
        {"gate": {"zzz": 1}},
        ["key 'gate.zzz'", "remove the key or correct its spelling (valid keys of gate:", "min_improvement"],
    ),
    "unknown_stattest": ({"monitor": {"stattest": "nope"}}, ["monitor.stattest 'nope'", "use one of"]),
    "window_days_zero": (
        {"training": {"window_days": 0}},
        ["key 'training.window_days'", "greater than 0", "set it above 0, or remove the key to use the default (180)"],
    ),
    "window_days_negative": (
        {"training": {"window_days": -7}},
        ["key 'training.window_days'", "greater than 0", "set it above 0, or remove the key to use the default (180)"],
    ),
    "monitor_window_days_zero": (
        {"monitor": {"window_days": 0}},
        ["key 'monitor.window_days'", "greater than 0", "set it above 0, or remove the key to use the default (7)"],
    ),
    "stattest_for_the_wrong_column_kind": (
        {"monitor": {"stattest": {"contract": "ks"}}},
        ["monitor.stattest.contract 'ks'", "use one of ['TVD'"],
    ),
}


@pytest.mark.parametrize("fault", sorted(KEY_FAULTS))
def test_a_bad_value_is_refused_at_load_naming_the_key_and_the_fix(models: Path, fault: str) -> None:
    sections, expected = KEY_FAULTS[fault]
    bad = _write_text(models / "sales.yaml", _model("sales", **sections))

    message = _refused(models, bad)

    assert str(bad) in message
    for words in expected:
        assert words in message


def test_a_model_without_a_threshold_is_warned_about_at_load(models: Path, caplog) -> None:
    data = yaml.safe_load(_model("sales"))
    del data["gate"]["threshold"]
    (models / "sales.yaml").write_text(yaml.safe_dump(data))

    with caplog.at_level(logging.WARNING, logger="include.retraining.config.files"):
        configs, errors = load_model_configs(models)

    assert sorted(c.name for c in configs) == ["churn", "sales"] and errors == {}
    assert "sales.yaml" in caplog.text and "gate.threshold is not set" in caplog.text
    assert "set gate.threshold" in caplog.text


def test_all_file_faults_at_once_are_one_import_error_and_churn_still_loads(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index, (make, _) in enumerate(FILE_FAULTS.values()):
        sub = models / f"batch{index}"
        sub.mkdir()
        bad = make(sub)
        bad.rename(models / f"bad{index}{bad.suffix}")
        sub.rmdir()
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(models))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))

    assert {"retrain_churn", "monitor_churn"} <= set(bag.dag_ids)
    # Reported once, by dags/retrain.py, for all four DAG files.
    assert {Path(f).name for f in bag.import_errors} == {"retrain.py"}
    for message in bag.import_errors.values():
        assert all(f"bad{i}.yaml" in message for i in range(len(FILE_FAULTS)))


def test_a_manual_run_for_a_past_logical_date_runs_its_tasks_and_says_why_it_stopped(real_runs: Path) -> None:
    """Before the fixed start_date, such a run created no task and reported success."""
    from include.orchestration.alerting import alert_outbox
    from include.retraining.alerts import read_alerts

    states = run_dag("retrain_churn", datetime(2025, 6, 2, 3, tzinfo=UTC))

    assert states["extract"] == "failed" and states["promote"] == "upstream_failed"
    (alert,) = read_alerts(alert_outbox())
    assert alert["kind"] == "extraction_stopped" and "has 0 rows" in alert["lines"][0]


def test_a_window_end_in_the_future_is_refused_with_a_clear_message(real_runs: Path) -> None:
    from include.orchestration.alerting import alert_outbox
    from include.retraining.alerts import read_alerts

    states = run_dag("retrain_churn", datetime.now(UTC), conf={"window_end": "2099-01-05T00:00:00+00:00"})

    assert states["extract"] == "failed" and states["train"] == "upstream_failed"
    (alert,) = read_alerts(alert_outbox())
    assert alert["kind"] == "task_failed" and alert["model"] == "churn"
    text = "\n".join(alert["lines"])
    assert "param window_end 2099-01-05" in text and "Leave window_end empty" in text
