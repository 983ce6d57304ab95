"""score_churn on real parts: a PostgreSQL warehouse, a real MLflow store with two registered
versions, real DAG runs (`dag.test`), the alert outbox. One warehouse and one registry are built
once for the module; each test starts from them as built (`fresh`: the source window reloaded, no
predictions, champion version 1, no challenger), so each passes alone and in any order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from demo.churn_data import TABLE, generate_snapshots, load_window
from include.orchestration.alerting import alert_outbox
from include.retraining.alerts import read_alerts
from include.retraining.config import load_model_config
from include.retraining.predictions import PREDICTION_COLUMNS as COLUMNS
from include.retraining.score import score_frame
from include.retraining.tables import PROMOTIONS_TABLE
from include.retraining.warehouse import Database
from tests.support import (
    MODEL_PIP_REQUIREMENTS,
    PG_ADMIN_URL,
    REPO,
    UTC,
    clear_alerts,
    postgres_databases,
    run_dag,
    service_unavailable,
    tracker,
)
from tests.support_served import read_predictions

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 4, tzinfo=UTC)  # a fire of the shipped cron, "0 4 * * *"
DAY1, DAY2 = START + timedelta(days=1), START + timedelta(days=2)
# The source rows: a day before START to three days after, so every interval scored here is whole.
SOURCE_START, SOURCE_END = START - timedelta(days=1), START + timedelta(days=3)
TABLE_OUT = "churn_predictions"
SAME = [c for c in COLUMNS if c not in ("scored_at", "run_id")]  # what a rerun must reproduce


@dataclass
class Stack:
    url: str
    models_dir: Path
    source: pd.DataFrame
    models: dict[str, object]

    def write_config(self, **scoring: object) -> None:
        config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
        config["scoring"].update(scoring)
        (self.models_dir / "churn.yaml").write_text(yaml.safe_dump(config))

    def predictions(self) -> pd.DataFrame:
        return read_predictions(self.url, TABLE_OUT, "churn")

    def rows_of(self, start: datetime, end: datetime) -> pd.DataFrame:
        times = self.source["snapshot_at"]
        naive = [pd.Timestamp(t).tz_localize(None) for t in (start, end)]
        return self.source[(times > naive[0]) & (times <= naive[1])]


def _register(tracker, frame: pd.DataFrame, max_iter: int) -> object:
    """Fit the shipped pipeline and register it as the retrain would (skops, trusted types only)."""
    import mlflow
    import mlflow.sklearn

    from include.retraining.learning import SKOPS_TRUSTED_TYPES, fit

    config = load_model_config(REPO / "include" / "models" / "churn.yaml")
    config = config.model_copy(
        update={"training": config.training.model_copy(update={"params": {"max_iter": max_iter}})}
    )
    model = fit(config, frame)
    with mlflow.start_run(experiment_id=tracker.ensure_experiment("churn")):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=MODEL_PIP_REQUIREMENTS,
        )
    mlflow.register_model(info.model_uri, "churn")
    return model


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"retraining_score_{uuid.uuid4().hex[:10]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no Postgres here
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    root = tmp_path_factory.mktemp("score")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETRAINING_DATA_DIR", str(root / "data"))
        patch.setenv("RETRAINING_MODELS_DIR", str(root / "models"))
        patch.setenv("AIRFLOW_CONN_WAREHOUSE", url)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        (root / "models").mkdir()
        source = generate_snapshots(1200, SOURCE_START, SOURCE_END, seed=4)
        mlflow_tracker = tracker()
        models = {"1": _register(mlflow_tracker, source, 20), "2": _register(mlflow_tracker, source, 5)}
        yield Stack(url, root / "models", source, models)
    postgres_databases(name, drop=True)


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    """The module's stack as built: the source window (re)loaded whole, no predictions, no
    promotion log and no alerts, champion version 1 and no challenger, the shipped model file."""
    db = Database(stack.url)
    with db.engine() as engine, engine.begin() as conn:
        for table in (TABLE_OUT, PROMOTIONS_TABLE):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {db.quote(table)}"))
    load_window(stack.url, TABLE, stack.source, SOURCE_START, SOURCE_END)
    clear_alerts()
    client = tracker().client
    client.set_registered_model_alias("churn", "champion", "1")
    _set_challenger(None)
    stack.write_config()
    return stack


def _set_challenger(version: str | None) -> None:
    client = tracker().client
    if version is not None:
        client.set_registered_model_alias("churn", "challenger", version)
    elif "challenger" in client.get_registered_model("churn").aliases:
        client.delete_registered_model_alias("churn", "challenger")


def test_a_run_scores_its_interval_row_for_row_and_rerun_clear_and_backfill_give_the_same_rows(fresh: Stack) -> None:
    states = run_dag("score_churn", DAY1)

    assert states == {"plan": "success", "score": "success"}
    first = fresh.predictions()
    expected = fresh.rows_of(START, DAY1)
    assert len(first) == len(expected) and first["id"].is_unique
    assert set(first["alias"]) == {"champion"} and set(first["model_version"]) == {"1"}
    assert (first["interval_start"] == pd.Timestamp("2026-03-01 04:00")).all()
    assert (first["interval_end"] == pd.Timestamp("2026-03-02 04:00")).all()
    config = load_model_config(fresh.models_dir / "churn.yaml")
    by_id = first.set_index("id").loc[expected["customer_id"]]
    pd.testing.assert_series_equal(
        pd.Series(score_frame(fresh.models["1"], expected, config)),
        by_id["score"].reset_index(drop=True),
        check_names=False,
    )

    run_dag("score_churn", DAY1)  # dag.test clears the run's task instances and runs them again
    backfill = run_dag("score_churn", DAY2 + timedelta(hours=3), {"window_end": DAY1.isoformat()})

    assert backfill["score"] == "success"
    again = fresh.predictions()
    pd.testing.assert_frame_equal(first[SAME], again[SAME])
    assert again["run_id"].nunique() == 1 and again["run_id"].iloc[0] != first["run_id"].iloc[0]
    # What the first run and the rerun delivered is kept, marked as replaced (ADBC's path).
    replaced = read_predictions(fresh.url, TABLE_OUT, "churn", superseded=True)
    assert len(replaced) == 2 * len(first) and replaced["superseded_at"].notna().all()


def test_shadow_rows_appear_only_while_a_challenger_exists(fresh: Stack) -> None:
    assert run_dag("score_churn", DAY1)["score"] == "success"  # the day before, with no challenger yet
    _set_challenger("2")

    run_dag("score_churn", DAY2)

    rows = fresh.predictions()
    day2 = rows[rows["interval_end"] == pd.Timestamp(DAY2).tz_localize(None)]
    assert day2.groupby("alias")["model_version"].unique().map(list).to_dict() == {
        "challenger": ["2"],
        "champion": ["1"],
    }
    assert (
        (day2["alias"] == "champion").sum() == (day2["alias"] == "challenger").sum() == len(fresh.rows_of(DAY1, DAY2))
    )
    assert set(rows.loc[rows["interval_end"] == pd.Timestamp(DAY1).tz_localize(None), "alias"]) == {"champion"}

    _set_challenger(None)
    run_dag("score_churn", DAY2)

    assert set(fresh.predictions()["alias"]) == {"champion"}
    assert len(fresh.predictions()) == len(fresh.rows_of(START, DAY2))


def test_bad_input_alerts_fails_and_leaves_the_interval_as_it_was(fresh: Stack) -> None:
    assert run_dag("score_churn", DAY1)["score"] == "success"
    before = fresh.predictions()
    assert len(before) == len(fresh.rows_of(START, DAY1)), "the interval was scored before the bad input"
    with Database(fresh.url).engine() as engine, engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {TABLE} SET region = 'atlantis' WHERE snapshot_at > :s AND snapshot_at <= :e"),
            {
                "s": START.replace(tzinfo=None) + timedelta(hours=6),
                "e": START.replace(tzinfo=None) + timedelta(hours=7),
            },
        )
    fresh.write_config(unseen_categories="fail")

    unseen = run_dag("score_churn", DAY1)

    fresh.write_config(query=f"SELECT customer_id, snapshot_at, tenure_months FROM {TABLE}")
    missing = run_dag("score_churn", DAY1)

    fresh.write_config()
    assert unseen["score"] == missing["score"] == "failed"
    alerts = [a for a in read_alerts(alert_outbox()) if a["kind"] == "scoring_stopped"]
    assert len(alerts) == 2, json.dumps(alerts, indent=1)
    assert "never saw" in alerts[0]["lines"][0] and "'region'" in alerts[0]["lines"][0]
    assert "atlantis" not in alerts[0]["lines"][0]  # row values stay out of alerts by default
    assert "monthly_charges" in alerts[1]["lines"][0] and "`scoring.query`" in alerts[1]["lines"][0]
    pd.testing.assert_frame_equal(before, fresh.predictions())


def _set_paused(dag_id: str, paused: bool) -> None:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": paused})


def test_a_champion_move_queues_a_scoring_run_through_the_champion_asset(fresh: Stack) -> None:
    """Proof without a scheduler: the rollback's event on `churn_champion` is recorded and Airflow
    queues score_churn for it (the AssetDagRunQueue row the scheduler turns into a run)."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session

    # score_churn has served before (which also puts it in the metadata DB, as a deployment has it).
    assert run_dag("score_churn", DAY1)["score"] == "success"
    _set_paused("score_churn", False)  # Airflow queues asset-triggered runs of unpaused DAGs only
    try:
        # Version 2 was registered here by hand, never champion: a rollback to it needs force.
        rolled = run_dag("rollback_churn", DAY2, {"to_version": "2", "reason": "scoring test", "force": True})
    finally:
        _set_paused("score_churn", True)

    assert rolled == {"rollback": "success"}
    with create_session() as session:
        (asset,) = session.query(AssetModel).filter(AssetModel.name == "churn_champion")
        assert session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id).count() == 1
        queued = session.query(AssetDagRunQueue).filter(AssetDagRunQueue.asset_id == asset.id)
        assert {row.target_dag_id for row in queued} == {"score_churn"}
    run_dag("score_churn", DAY2)  # what that queued run does: the new champion scores
    rows = fresh.predictions()
    assert set(rows.loc[rows["interval_end"] == pd.Timestamp(DAY1).tz_localize(None), "model_version"]) == {"1"}
    assert set(rows.loc[rows["interval_end"] == pd.Timestamp(DAY2).tz_localize(None), "model_version"]) == {"2"}


def _score_xcom(dag_id: str) -> dict:
    """The `score` task's return value (the run record) of the latest run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, task_id="score", key="return_value")
            .order_by(XComModel.timestamp.desc())
            .first()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def test_text_in_a_numeric_column_is_refused_under_fail_and_counted_under_impute(fresh: Stack) -> None:
    """A warehouse text column for a numeric feature: its numbers are read as numbers, one 'twelve'
    stops the run under `scoring.nulls: fail` and is scored as a null, and counted, under `impute`."""
    window = fresh.rows_of(START, DAY1)
    twelve = str(window["customer_id"].iloc[0])
    others = "customer_id, snapshot_at, monthly_charges, support_tickets_90d, contract, payment_method, region"
    tenure = (
        f"CASE WHEN CAST(customer_id AS TEXT) = '{twelve}' THEN 'twelve' "
        "ELSE CAST(tenure_months AS TEXT) END AS tenure_months"
    )
    query = f"SELECT {others}, {tenure} FROM {TABLE}"

    fresh.write_config(query=query, nulls="fail")
    refused = run_dag("score_churn", DAY1)
    nothing = fresh.predictions()
    fresh.write_config(query=query)
    counted = run_dag("score_churn", DAY1)
    fresh.write_config()

    assert refused["score"] == "failed" and nothing.empty
    alerts = [a for a in read_alerts(alert_outbox()) if a["kind"] == "scoring_stopped"]
    assert len(alerts) == 1 and "{'tenure_months': 1}" in alerts[0]["lines"][0]
    assert "text, not a number" in alerts[0]["lines"][0] and "twelve" not in json.dumps(alerts)
    assert counted["score"] == "success" and len(fresh.predictions()) == len(window)
    assert [part["invalid"] for part in _score_xcom("score_churn")["scored"]] == [{"tenure_months": 1}]
