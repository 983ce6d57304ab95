"""The "add your own model" walk-through (docs/add-your-model.md), step by step, on real parts.

The example's table is loaded by its own loader into a SQLite warehouse named by the `warehouse`
connection, the pipeline reads its model files from examples/models, and real DAG runs
(`dag.test`) retrain, monitor and score `doctor_visits`. Everything is checked the way a user
would look: task states, the MLflow registry, and SQL on the warehouse's tables. Nothing is
imported from include/retraining, so the test holds whatever shape that package takes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow.tracking import MlflowClient

from examples.doctor_visits import TABLE, doctor_visits, load
from tests.support import REPO, UTC, run_dag

pytestmark = pytest.mark.integration

MODEL = "doctor_visits"
EXAMPLE_MODELS = REPO / "examples" / "models"
# The walk-through's windows, all in the data's year and passed as `window_end` on runs made now.
TRAINED_TO = datetime(2025, 3, 3, tzinfo=UTC)  # 8 weeks of rows: a full training window
MONITORED_TO = TRAINED_TO + timedelta(weeks=1)
SCORED_TO = MONITORED_TO + timedelta(hours=4)  # a fire of scoring's "0 4 * * 1"
PASSED = {"extract": "success", "validate": "success", "train": "success", "evaluate": "success"}
JUDGED = {
    task: "success"
    for task in ("reference", "current", "seasonal_reference", "data_drift", "performance", "decide", "report")
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _window_end(moment: datetime) -> dict[str, str]:
    return {"window_end": moment.isoformat()}


def _query(url: str, sql: str, **params: object) -> pd.DataFrame:
    """Rows from the warehouse; a datetime parameter is bound as a timestamp, as the table stores it."""
    dated = [sa.bindparam(key, type_=sa.DateTime()) for key, value in params.items() if isinstance(value, datetime)]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(sa.text(sql).bindparams(*dated), conn, params=params)
    finally:
        engine.dispose()


@pytest.fixture
def warehouse(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Steps 1-3 of the walk-through: the table, the connection, the model folder."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    frame = doctor_visits()
    load(url, frame)
    load(url, frame)  # a rerun of the loader replaces the rows, never adds them again
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url)
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(EXAMPLE_MODELS))
    return url


def test_the_loader_writes_each_row_once_with_the_index_the_window_reads_use(warehouse: str) -> None:
    counts = _query(warehouse, f"SELECT count(*) AS n, count(DISTINCT record_id) AS ids FROM {TABLE}")
    indexes = _query(warehouse, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t", t=TABLE)

    assert counts.to_dict("records") == [{"n": 20190, "ids": 20190}]
    assert any("(observed_at)" in sql for sql in indexes["sql"])


def test_loader_on_postgres_replaces_the_table_and_indexes_it(postgres_warehouse: str) -> None:
    frame = doctor_visits()

    load(postgres_warehouse, frame)
    load(postgres_warehouse, frame)

    counts = _query(postgres_warehouse, f"SELECT count(*) AS n, count(DISTINCT record_id) AS ids FROM {TABLE}")
    indexes = _query(postgres_warehouse, "SELECT indexdef FROM pg_indexes WHERE tablename = :t", t=TABLE)
    assert counts.to_dict("records") == [{"n": 20190, "ids": 20190}]
    assert any("(observed_at)" in definition for definition in indexes["indexdef"])


def test_walk_through_retrains_monitors_and_scores_the_example_model(warehouse: str, data_dir: Path, slack) -> None:
    uri = f"sqlite:///{data_dir / 'mlflow.db'}"  # the embedded MLflow store under RETRAINING_DATA_DIR
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    # The first run: a past window through `window_end`; the first model is promoted on the threshold.
    retrain = run_dag(f"retrain_{MODEL}", _now(), _window_end(TRAINED_TO))

    assert retrain == {**PASSED, "promote": "success"}
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "1"
    holdout_rmse = client.get_run(champion.run_id).data.metrics["holdout_rmse"]
    assert 0 < holdout_rmse <= 6.0  # the model file's gate.threshold, a ceiling
    promotions = _query(warehouse, "SELECT action, to_version FROM model_promotions WHERE model = :m", m=MODEL)
    assert promotions.to_dict("records") == [{"action": "promote", "to_version": "1"}]

    # A week later the monitor judges the champion: drift per feature, rmse on matured labels.
    monitor = run_dag(f"monitor_{MODEL}", _now(), _window_end(MONITORED_TO))

    assert monitor == {**JUDGED, "trigger": "skipped", "auto_rollback": "skipped", "verify_promotion": "skipped"}
    (row,) = _query(warehouse, "SELECT * FROM model_monitoring WHERE model = :m", m=MODEL).to_dict("records")
    assert row["decision"] == "none", row["reasons"]
    assert row["metric_holdout"] == pytest.approx(holdout_rmse)
    assert np.isfinite(row["metric_current"]) and row["performance_drop"] < 1.5  # monitor.performance_drop

    # Scoring writes the champion's predictions for the week ending at the scoring cron's fire.
    score = run_dag(f"score_{MODEL}", _now(), _window_end(SCORED_TO))

    assert score == {"plan": "success", "score": "success"}
    scored = _query(
        warehouse,
        f"SELECT p.id, p.alias, p.model_version, p.score, v.mdvis FROM {MODEL}_predictions p "
        f"LEFT JOIN {TABLE} v ON p.id = CAST(v.record_id AS TEXT) WHERE p.model = :m",
        m=MODEL,
    )
    (expected,) = _query(
        warehouse,
        f"SELECT count(*) FROM {TABLE} WHERE observed_at > :s AND observed_at <= :e",
        s=(SCORED_TO - timedelta(weeks=1)).replace(tzinfo=None),
        e=SCORED_TO.replace(tzinfo=None),
    ).iloc[0]
    assert len(scored) == expected > 300 and scored["id"].is_unique and scored["mdvis"].notna().all()
    assert set(scored["alias"]) == {"champion"} and set(scored["model_version"]) == {"1"}
    predictions, visits = scored["score"].to_numpy(float), scored["mdvis"].to_numpy(float)
    assert np.isfinite(predictions).all() and (predictions > 0).all() and predictions.max() < visits.max()
    assert abs(predictions.mean() - visits.mean()) < 0.75  # the mean count, in visits
    assert scored["score"].corr(scored["mdvis"], method="spearman") > 0.1  # it ranks people, a little
    assert slack.messages == []
