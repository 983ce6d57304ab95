"""A read-only source: the warehouse connection is a PostgreSQL role that may SELECT the source
table and nothing else, defined only in a secrets backend (Airflow's local-file one; its password
full of URL syntax), and the pipeline's own tables live in the database of the Airflow connection
`retraining_db`. Real DAG
runs retrain, score and monitor end to end; the monitor judges what was served (predictions in
`retraining_db`) on the labels that arrived (in the source), and nothing is written to the source.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from airflow.sdk.configuration import clear_secrets_backends_cache
from sqlalchemy.engine import make_url

from demo.churn_data import TABLE
from include.retraining.tables import history, read_monitoring
from include.retraining.warehouse import Database
from tests.support import REPO, UTC, fresh_postgres_databases, load_weeks, run_dag, select_only_role
from tests.support_served import read_predictions

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, tzinfo=UTC)  # eight weekly partitions from here
TRAINED_AT = datetime(2026, 3, 16, tzinfo=UTC)  # a Monday: the weekly scoring fire scores (Mar 9, Mar 16]
MONITORED_AT = TRAINED_AT + timedelta(weeks=1)  # its matured window is the week that was scored
PASSWORD = "p@ss:w/rd#1"


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _model_files(root: Path) -> Path:
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["training"].update(estimator="logistic_regression", params={})  # a cheap fit; the kind does not matter
    config["scoring"]["schedule"] = "0 0 * * 1"  # weekly: one run scores the whole matured week
    config["monitor"]["min_rows"] = 50
    (root / "models").mkdir()
    (root / "models" / "churn.yaml").write_text(yaml.safe_dump(config))
    return root / "models"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("readonly")
    with (
        fresh_postgres_databases("readonly_src", "readonly_pipe") as (source_url, pipeline_url),
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("RETRAINING_DATA_DIR", str(root / "data"))
        env.setenv("RETRAINING_MODELS_DIR", str(_model_files(root)))
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.setenv("AIRFLOW_CONN_WAREHOUSE", source_url)
        load_weeks(START, weeks=8)  # as the owner: the upstream load
        with select_only_role(source_url, TABLE, PASSWORD) as role:
            source = make_url(source_url)
            reader = {"conn_type": "postgres", "host": source.host, "port": source.port or 5432}
            reader |= {"login": role, "password": PASSWORD, "schema": source.database}
            (root / "connections.json").write_text(json.dumps({"warehouse": reader}))
            env.delenv("AIRFLOW_CONN_WAREHOUSE")
            env.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
            env.setenv(
                "AIRFLOW__SECRETS__BACKEND_KWARGS",
                json.dumps({"connections_file_path": str(root / "connections.json")}),
            )
            env.setenv("AIRFLOW_CONN_RETRAINING_DB", pipeline_url)
            clear_secrets_backends_cache()  # the backends are built once per process, then kept
            try:
                before = _tables(source_url)
                states = {
                    "retrain": run_dag("retrain_churn", TRAINED_AT),
                    "score": run_dag("score_churn", TRAINED_AT),
                    "monitor": run_dag("monitor_churn", MONITORED_AT),
                }
                yield {"states": states, "before": before, "source": source_url, "pipeline": pipeline_url, "role": role}
            finally:
                clear_secrets_backends_cache()


def test_the_reader_role_may_not_write_the_source(runs: dict) -> None:
    reader = make_url(runs["source"]).set(username=runs["role"], password=PASSWORD)
    engine = sa.create_engine(reader)
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE model_monitoring (x int)"))
    finally:
        engine.dispose()


def test_retrain_score_and_monitor_succeed_and_write_nothing_to_the_source(runs: dict) -> None:
    states = runs["states"]

    assert states["retrain"]["promote"] == "success", states["retrain"]
    assert set(states["score"].values()) == {"success"}, states["score"]
    assert "failed" not in states["monitor"].values() and "upstream_failed" not in states["monitor"].values()
    assert _tables(runs["source"]) == runs["before"] == {TABLE}
    assert {"model_promotions", "model_monitoring", "churn_predictions"} <= _tables(runs["pipeline"])


def test_the_monitor_judges_the_served_predictions_on_the_labels_in_the_source(runs: dict) -> None:
    pipeline = Database(runs["pipeline"])
    served = read_predictions(runs["pipeline"], "churn_predictions", "churn")
    (row,) = read_monitoring(pipeline, "churn").to_dict("records")
    (promotion,) = history(pipeline, "churn")

    assert len(served) > 100 and set(served["model_version"]) == {"1"}
    assert promotion.to_version == "1"
    assert row["performance_source"] == "served" and row["rows_served"] == len(served)
    assert row["label_coverage"] == 1.0 and 0.5 < row["metric_current"] <= 1.0
