"""monitor_churn watching what was served, on real parts: a Postgres warehouse holding served
predictions (in the predictions table's contract) and a label table filled in late, a champion
trained by a real retrain_churn run, and two real monitor_churn runs a day apart.

One module fixture runs it all once (one retrain, two monitor runs); the tests read its results.
The story: the previous champion (version 7) served the week before the new one (version 1,
promoted on TRAINED_AT); a shadow challenger (version 8) scored the same rows with no skill. At the
first monitor run only 30% of the matured week's labels have arrived; by the second, all have.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from include.retraining.tables import read_monitoring
from include.retraining.warehouse import Database
from tests.support import PG_ADMIN_URL, REPO, UTC, load_weeks, postgres_databases, run_dag, service_unavailable
from tests.support_served import predictions_for, write_predictions

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, tzinfo=UTC)  # the first day of the champion's 42-day training window
TRAINED_AT = datetime(2026, 3, 16, tzinfo=UTC)
FIRST, SECOND = TRAINED_AT + timedelta(weeks=1), TRAINED_AT + timedelta(weeks=1, days=1)
MATURED_START = TRAINED_AT - timedelta(weeks=1)  # the first run's matured window: (Mar 9, Mar 16]


def _source(url: str) -> pd.DataFrame:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        sql = "SELECT customer_id, snapshot_at, churned FROM customer_snapshots WHERE snapshot_at > :s ORDER BY 2"
        return pd.read_sql(sa.text(sql), engine, params={"s": MATURED_START.replace(tzinfo=None)})
    finally:
        engine.dispose()


def _serve(url: str, rows: pd.DataFrame) -> None:
    """Champion v7 up to TRAINED_AT with skill, v1 after (its current-window scores pushed to ~0.95,
    which a re-scoring monitor would never see), challenger v8 in shadow on v7's rows, no skill."""
    rng = np.random.default_rng(3)
    skilled = np.clip(0.5 * rows["churned"] + rng.uniform(0, 0.5, len(rows)), 0, 1)
    before = (rows["snapshot_at"] <= TRAINED_AT.replace(tzinfo=None)).to_numpy()
    one_day = (rows["snapshot_at"] <= (TRAINED_AT + timedelta(days=1)).replace(tzinfo=None)).to_numpy()
    shifted = np.where(one_day, skilled, 0.95 + rng.uniform(0, 0.04, len(rows)))
    end = SECOND + timedelta(days=1)
    frames = [
        predictions_for(rows[before], "7", "champion", skilled[before], MATURED_START, TRAINED_AT),
        predictions_for(rows[before], "8", "challenger", rng.uniform(0, 1, before.sum()), MATURED_START, TRAINED_AT),
        predictions_for(rows[~before], "1", "champion", shifted[~before], TRAINED_AT, end),
    ]
    write_predictions(url, pd.concat(frames, ignore_index=True))


def _labels_arrive(url: str, rows: pd.DataFrame) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        rows[["customer_id", "churned"]].to_sql("churn_labels", engine, if_exists="append", index=False)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def served_runs(tmp_path_factory: pytest.TempPathFactory):
    """Retrain once, serve, monitor with 30% of labels, let the rest arrive, monitor the next day."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"retraining_test_{uuid.uuid4().hex[:10]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no Postgres here
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    root = tmp_path_factory.mktemp("served")
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["labels"] = {"table": "churn_labels"}
    config["monitor"]["min_rows"] = 50
    # The champion's kind does not matter here; a linear one makes the one retrain cheaper.
    config["training"].update(estimator="logistic_regression", params={})
    (root / "models").mkdir()
    (root / "models" / "churn.yaml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RETRAINING_DATA_DIR", str(root / "data"))
        env.setenv("RETRAINING_MODELS_DIR", str(root / "models"))
        env.setenv("AIRFLOW_CONN_WAREHOUSE", url)
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        try:
            load_weeks(START, weeks=8)
            assert run_dag("retrain_churn", TRAINED_AT)["promote"] == "success"
            rows = _source(url)
            _serve(url, rows)
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE churn_labels (customer_id TEXT, churned BIGINT)"))
            engine.dispose()
            matured = rows[rows["snapshot_at"] <= TRAINED_AT.replace(tzinfo=None)]
            _labels_arrive(url, matured.iloc[: int(len(matured) * 0.3)])
            first = run_dag("monitor_churn", FIRST)
            _labels_arrive(
                url, rows[rows["snapshot_at"] <= SECOND.replace(tzinfo=None)].iloc[int(len(matured) * 0.3) :]
            )
            second = run_dag("monitor_churn", SECOND)
            records = read_monitoring(Database(url), "churn").to_dict("records")
            yield {"states": (first, second), "rows": records, "all": rows, "mlflow": _monitoring_metrics()}
        finally:
            postgres_databases(name, drop=True)


def _monitoring_metrics() -> list[dict]:
    from mlflow.tracking import MlflowClient

    from include.retraining.common import load_settings

    uri = load_settings().tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("churn-monitoring")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [run.data.metrics for run in runs]


def _figures(row: dict) -> dict:
    return json.loads(row["served_figures"])


def test_late_labels_raise_coverage_and_no_window_fails(served_runs) -> None:
    first, second = served_runs["rows"]

    assert all(states["report"] == "success" for states in served_runs["states"])
    assert first["performance_source"] == second["performance_source"] == "served"
    assert first["label_coverage"] == pytest.approx(0.3, abs=0.01) and pd.isna(first["metric_current"])
    assert second["label_coverage"] == pytest.approx(1.0)


def test_a_version_that_served_nothing_is_never_credited(served_runs) -> None:
    first, second = served_runs["rows"]
    rows = served_runs["all"]

    # First run: version 1 (the champion) served nothing in the matured week; only 7 and 8 did.
    assert {(f["alias"], f["version"]) for f in _figures(first)["versions"]} == {("champion", "7"), ("challenger", "8")}
    assert all(f["value"] is None for f in _figures(first)["versions"])  # 30% coverage
    # Second run: version 1 is credited with the day it served, and with nothing else.
    figures = {f["version"]: f for f in _figures(second)["versions"]}
    served_by_1 = rows["snapshot_at"].between(
        TRAINED_AT.replace(tzinfo=None), SECOND.replace(tzinfo=None) - timedelta(weeks=1), inclusive="right"
    )
    assert figures["1"]["rows"] == served_by_1.sum() and second["metric_current"] == figures["1"]["value"]
    assert figures["7"]["value"] > 0.8 and figures["7"]["rows"] + figures["1"]["rows"] == second["rows_served"]


def test_the_shadow_challenger_is_reported_beside_the_champion(served_runs) -> None:
    _, second = served_runs["rows"]

    (shadow,) = _figures(second)["shadow"]
    assert second["challenger_version"] == "8" and shadow["champion_versions"] == ["7"]
    assert second["champion_shadow_metric"] > 0.8 and 0.4 < second["challenger_metric"] < 0.6
    # The MLflow monitoring run carries the same figures.
    first_run, second_run = served_runs["mlflow"]
    assert first_run["label_coverage"] < second_run["label_coverage"] and "served.champion.v1.roc_auc" in second_run
    assert second_run["shadow.v8.challenger_roc_auc"] == pytest.approx(second["challenger_metric"])


def test_prediction_drift_uses_the_served_scores(served_runs) -> None:
    first, second = served_runs["rows"]

    # The served scores were pushed to ~0.95: a large PSI that re-scoring the stable window would not show.
    assert first["prediction_source"] == second["prediction_source"] == "served"
    assert first["prediction_psi"] > 1.0 and first["drift_share"] < 0.3
