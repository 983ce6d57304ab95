"""The checks on a real SQLite warehouse holding demo weeks, a real embedded MLflow store, and a
tracking URI nothing answers on: what each finds, and the fix it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from demo.churn_data import TABLE, generate_snapshots, load_window
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.preflight import (
    Status,
    artifact_store_findings,
    dag_findings,
    model_code_findings,
    model_file_findings,
    render_json,
    render_text,
    source_findings,
    tracking_findings,
)
from include.retraining.tracking import Tracker
from include.retraining.warehouse import Warehouse
from tests.support import REPO

pytestmark = pytest.mark.unit

CHURN = REPO / "include" / "models" / "churn.yaml"
START = datetime(2026, 1, 5, tzinfo=UTC)
END = START + timedelta(weeks=8)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    url = f"sqlite:///{tmp_path_factory.mktemp('wh') / 'warehouse.db'}"
    for week in range(8):
        begin = START + timedelta(weeks=week)
        load_window(
            url,
            TABLE,
            generate_snapshots(300, begin, begin + timedelta(weeks=1), seed=3),
            begin,
            begin + timedelta(weeks=1),
        )
    return Warehouse(url)


def _by_check(findings) -> dict[str, object]:
    return {f.check: f for f in findings}


def test_a_healthy_source_is_ok_but_for_the_missing_index_whose_statement_works(warehouse: Warehouse) -> None:
    config = load_model_config(CHURN)

    found = _by_check(source_findings(config, warehouse, END))

    assert [found[c].status for c in ("source", "timestamps", "rows")] == [Status.OK] * 3
    assert "2,400 rows, 0 without a usable time" in found["timestamps"].message
    assert (
        found["index"].status is Status.WARNING and "every window read scans the whole table" in found["index"].message
    )
    statement = found["index"].message.split("create one: ", 1)[1]
    with warehouse.engine() as engine, engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert _by_check(source_findings(config, warehouse, END))["index"].status is Status.OK


def test_an_id_and_time_that_repeat_in_the_training_window_are_a_problem(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    rows = generate_snapshots(300, START, END, seed=3)
    load_window(url, TABLE, rows, START, END)
    config = load_model_config(CHURN)
    assert _by_check(source_findings(config, Warehouse(url), END))["keys"].status is Status.OK

    load_window(url, TABLE, pd.concat([rows, rows.iloc[150:153]]), START, END)  # a load that wrote 3 rows twice

    found = _by_check(source_findings(config, Warehouse(url), END))["keys"]
    assert found.status is Status.PROBLEM
    assert found.message.startswith("3 (customer_id, snapshot_at) pair(s) occur more than once in the training window")


def test_a_missing_column_is_a_problem_naming_it_and_nothing_further_is_checked(warehouse: Warehouse) -> None:
    config = load_model_config(CHURN)
    features = config.features.model_copy(update={"numeric": [*config.features.numeric, "lifetime_value"]})
    config = config.model_copy(update={"features": features})

    (finding,) = source_findings(config, warehouse, END)

    assert finding.status is Status.PROBLEM and "['lifetime_value']" in finding.message
    assert "fix `features`/`target`/`source` in the model file" in finding.message


def test_a_window_with_too_few_rows_is_a_problem_with_the_fix(warehouse: Warehouse) -> None:
    config = load_model_config(CHURN)

    rows = _by_check(source_findings(config, warehouse, START + timedelta(weeks=40)))["rows"]

    assert rows.status is Status.PROBLEM and "holds 0 rows, below min_rows" in rows.message
    assert "widen training.window_days" in rows.message


def test_a_missing_table_is_one_problem(tmp_path: Path) -> None:
    (finding,) = source_findings(load_model_config(CHURN), Warehouse(f"sqlite:///{tmp_path / 'empty.db'}"), END)

    assert finding.status is Status.PROBLEM and "customer_snapshots" in finding.message


def test_a_misspelled_key_and_a_good_file_are_each_reported(tmp_path: Path) -> None:
    data = yaml.safe_load(CHURN.read_text())
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(data))
    data.update(name="sales")
    data["monitor"]["cooldwn_hours"] = 12
    (tmp_path / "sales.yaml").write_text(yaml.safe_dump(data))

    configs, findings = model_file_findings(tmp_path)

    assert [c.name for c in configs] == ["churn"]
    (bad,) = [f for f in findings if f.status is Status.PROBLEM]
    assert bad.subject == "sales.yaml" and "did you mean 'monitor.cooldown_hours'?" in bad.message
    dags = dag_findings(configs[0])[0].message
    assert "retrain_churn (0 3 * * 1, and on asset churn_drift)" in dags and "score_churn" in dags
    assert "1 problem(s), 0 warning(s)" in render_text(findings)
    assert '"status": "problem"' in render_json(findings)


def test_the_model_code_a_file_names_is_imported_and_built_as_train_will() -> None:
    shipped = load_model_config(CHURN)

    def naming(estimator: str) -> list:
        training = shipped.training.model_copy(update={"estimator": estimator, "params": {}})
        return model_code_findings(shipped.model_copy(update={"training": training}))

    (ok,) = naming("sklearn.ensemble.ExtraTreesClassifier")
    (missing,) = naming("surely_not_installed.Model")

    assert model_code_findings(shipped) == []  # the built-in names were checked with the file
    assert ok.status is Status.OK and ok.message == "imports and builds ColumnTransformer -> ExtraTreesClassifier"
    assert missing.status is Status.PROBLEM and missing.check == "model code"
    assert "training.estimator 'surely_not_installed.Model': cannot import module" in missing.message


def test_an_embedded_store_not_created_yet_is_fine_and_is_not_created(tmp_path: Path) -> None:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})

    (finding,) = tracking_findings(settings, Tracker(settings, trusted_types=()))

    assert finding.status is Status.OK and "created by the first run" in finding.message
    assert not (tmp_path / "data" / "mlflow.db").exists()


def test_a_tracking_server_that_does_not_answer_is_a_problem_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    settings = load_settings({"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"})

    (finding,) = tracking_findings(settings, Tracker(settings, trusted_types=()))

    assert finding.status is Status.PROBLEM and "http://127.0.0.1:1 does not answer" in finding.message
    assert "set MLFLOW_TRACKING_URI" in finding.message


def test_an_artifact_root_not_created_yet_is_fine_and_is_not_created(tmp_path: Path) -> None:
    settings = load_settings({"RETRAINING_ARTIFACT_ROOT": str(tmp_path / "artifacts")})

    (finding,) = artifact_store_findings(settings)

    assert finding.status is Status.OK and "created by the first run" in finding.message
    assert not (tmp_path / "artifacts").exists()


def test_an_artifact_root_that_cannot_be_created_is_a_problem_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    settings = load_settings({"RETRAINING_ARTIFACT_ROOT": str(tmp_path / "a-file" / "artifacts")})

    (finding,) = artifact_store_findings(settings)

    assert finding.status is Status.PROBLEM and "set RETRAINING_ARTIFACT_ROOT" in finding.message


@pytest.mark.parametrize("store", ["local", "memory"])
def test_a_writable_artifact_store_takes_a_probe_and_keeps_nothing(tmp_path: Path, store: str) -> None:
    from include.retraining.artifacts import artifact_path

    root = str(tmp_path) if store == "local" else "memory://bucket-preflight/prefix"
    (finding,) = artifact_store_findings(load_settings({"RETRAINING_ARTIFACT_ROOT": root}))

    assert finding.status is Status.OK and "takes writes, reads and deletes" in finding.message
    assert not artifact_path(root).exists() or list(artifact_path(root).iterdir()) == []


def test_a_store_that_refuses_the_probe_is_a_problem_naming_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from include.retraining.artifacts import store as artifact_store

    def refused(*_: object) -> None:
        raise PermissionError("Access Denied")

    monkeypatch.setattr(artifact_store, "write_with", refused)
    settings = load_settings({"RETRAINING_ARTIFACT_ROOT": "memory://bucket-refused/prefix"})

    (finding,) = artifact_store_findings(settings)

    assert finding.status is Status.PROBLEM and "refused a test write (Access Denied)" in finding.message
    assert "AWS_ACCESS_KEY_ID" in finding.message and finding.check == "artifact store"
