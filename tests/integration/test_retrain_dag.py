"""retrain_churn on real parts: a SQLite or Postgres warehouse, a real MLflow store, real Airflow
DAG runs, a loopback HTTP endpoint standing in for Slack."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from mlflow.tracking import MlflowClient

from demo.churn_data import World
from include.orchestration.alerting import alert_outbox
from include.retraining.alerts import read_alerts
from include.retraining.common import load_settings
from include.retraining.promotion import move_champion
from include.retraining.tables import PromotionAction, PromotionRecord, history
from include.retraining.tracking import SNAPSHOT_HASH_TAG
from tests.support import UTC, load_weeks, pipeline_db, registry, run_dag, tracker

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
RUN_AT = START + timedelta(weeks=10)
PASSED = {"extract": "success", "validate": "success", "train": "success", "evaluate": "success"}


def _client() -> MlflowClient:
    uri = load_settings().tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _aliases() -> dict[str, str]:
    return {alias: str(v) for alias, v in _client().get_registered_model("churn").aliases.items()}


def _training_runs() -> list:
    client = _client()
    experiment = client.get_experiment_by_name("churn")
    return client.search_runs([experiment.experiment_id]) if experiment else []


@pytest.fixture
def warehouse(warehouse_backend: str) -> str:
    load_weeks(START, weeks=10)
    return warehouse_backend


def test_first_run_promotes_and_a_rerun_of_the_same_interval_changes_nothing(warehouse: str) -> None:
    first = run_dag("retrain_churn", RUN_AT)

    assert first == {**PASSED, "promote": "success"}
    assert _aliases() == {"champion": "1"}
    (row,) = history(pipeline_db(), "churn")
    assert (row.from_version, row.to_version, row.action.value) == (None, "1", "promote")
    (run,) = _training_runs()
    snapshots = list((load_settings().artifact_root / "churn" / "snapshots").rglob("*.parquet"))
    assert len(snapshots) == 1 and snapshots[0].name[:16] == run.data.tags[SNAPSHOT_HASH_TAG][:16]

    again = run_dag("retrain_churn", RUN_AT)

    assert again == {**PASSED, "promote": "skipped"}
    assert _aliases() == {"champion": "1"}
    assert len(_training_runs()) == 1
    assert list((load_settings().artifact_root / "churn" / "snapshots").rglob("*.parquet")) == snapshots
    assert len(_client().search_model_versions("name = 'churn'")) == 1
    assert len(history(pipeline_db(), "churn")) == 1


def test_champion_serves_through_pyfunc_with_missing_values(data_dir, models_dir) -> None:
    """Serving loads the registered model by alias, with its preprocessing inside: nulls and
    unseen categories are scored, the signature accepts them, and the answers are the model's."""
    import mlflow.pyfunc
    import pandas as pd

    load_weeks(START, weeks=10)
    states = run_dag("retrain_churn", RUN_AT)
    assert states == {**PASSED, "promote": "success"}
    mlflow.set_registry_uri(load_settings().tracking_uri)

    model = mlflow.pyfunc.load_model("models:/churn@champion")
    rows = pd.DataFrame(
        {
            "tenure_months": [None, 30.0, 1.0, 60.0],
            "monthly_charges": [80.0, None, 130.0, None],
            "support_tickets_90d": [1.0, None, 6.0, None],
            "contract": ["one_year", "quarterly", "month_to_month", "two_year"],
            "payment_method": [None, "credit_card", None, "credit_card"],
            "region": ["north", "south", "south", "atlantis"],
        }
    )

    served = [int(label) for label in model.predict(rows)]

    # The same version loaded by the pipeline's own (skops) loader gives the same answers.
    native = tracker().load_model("models:/churn@champion")
    assert served == [int(label) for label in native.predict(rows)]
    # The demo's churn odds: a new month-to-month customer with high charges and six tickets
    # churns (p ~ 0.97), a five-year two-year customer stays (p < 0.01), nulls and all.
    assert served[2:] == [1, 0], served


def test_worse_challenger_is_blocked_and_slack_gets_the_metrics(data_dir, models_dir, slack) -> None:
    load_weeks(START, weeks=10)
    run_dag("retrain_churn", RUN_AT)
    # Same window, a crippled estimator: the paired interval must say it is worse.
    models_dir(training={"params": {"max_iter": 1, "max_leaf_nodes": 2}}, gate={"threshold": 0.5})

    states = run_dag("retrain_churn", RUN_AT)

    assert states == {**PASSED, "promote": "skipped"}
    assert _aliases() == {"champion": "1", "challenger": "2"}
    (message,) = slack.messages
    assert "churn: challenger not promoted" in message["text"]
    assert "roc_auc: challenger 0." in message["text"] and "champion 0." in message["text"]
    assert "99.5% lower bound" in message["text"] and "/dags/retrain_churn/runs/" in message["text"]
    (alert,) = read_alerts(alert_outbox())
    assert alert["delivered_to"] == "slack" and alert["figures"]["interval"]["upper"] < 0

    rerun = run_dag("retrain_churn", RUN_AT)

    assert rerun == {**PASSED, "promote": "skipped"}
    assert len(slack.messages) == 1, "a rerun of a judged snapshot decides nothing new and alerts nobody"
    assert _aliases() == {"champion": "1", "challenger": "2"}


def test_broken_column_fails_validation_trains_nothing_and_alerts(data_dir, models_dir, slack) -> None:
    load_weeks(START, weeks=10)
    run_dag("retrain_churn", RUN_AT)
    # Next week's training window now ends in two weeks whose monthly_charges arrived empty.
    load_weeks(START + timedelta(weeks=7), weeks=3, world=World(null_columns=("monthly_charges",)))

    states = run_dag("retrain_churn", RUN_AT + timedelta(weeks=1))

    assert states["extract"] == "success" and states["validate"] == "failed"
    assert states["train"] == states["promote"] == "upstream_failed"
    assert len(_training_runs()) == 1 and _aliases() == {"champion": "1"}
    (message,) = slack.messages
    assert "data validation failed" in message["text"]
    assert "expect_column_values_to_not_be_null on monthly_charges" in message["text"]
    assert "gx_result.html" in message["text"]


def test_empty_window_stops_with_a_reason_and_an_alert(data_dir, models_dir) -> None:
    load_weeks(START - timedelta(weeks=30), weeks=2)  # the table exists, the window is empty

    states = run_dag("retrain_churn", RUN_AT)

    assert states["extract"] == "failed" and states["train"] == "upstream_failed"
    (alert,) = read_alerts(alert_outbox())
    assert alert["kind"] == "extraction_stopped" and alert["delivered_to"] == "file"
    assert "has 0 rows, fewer than training.min_rows" in alert["lines"][0]


def test_pooled_evidence_joins_the_next_decision_against_the_same_champion(data_dir, models_dir, slack) -> None:
    """gate.pooled_windows: 2 on real runs: the second blocked challenger of the same recipe is
    judged on its holdout plus the first one's older rows, and Slack says how many were pooled."""
    load_weeks(START, weeks=12)
    models_dir(gate={"pooled_windows": 2})
    run_dag("retrain_churn", RUN_AT)
    models_dir(training={"params": {"max_iter": 1, "max_leaf_nodes": 2}}, gate={"pooled_windows": 2, "threshold": 0.5})

    first = run_dag("retrain_churn", RUN_AT + timedelta(weeks=1))
    second = run_dag("retrain_churn", RUN_AT + timedelta(weeks=2))

    assert first == second == {**PASSED, "promote": "skipped"}
    assert _aliases() == {"champion": "1", "challenger": "3"}
    runs = {r.data.tags["retraining.window_end"]: r for r in _training_runs()}
    assert all("retraining.train_until" in r.data.tags for r in runs.values())
    newest = runs[max(runs)]
    assert newest.data.tags["retraining.evidence_baseline"] == "1"
    first_alert, second_alert = read_alerts(alert_outbox())
    assert "pooled" not in first_alert["figures"], "the first decision against champion 1 has nothing to pool"
    pooled = second_alert["figures"]["pooled"]
    assert pooled["windows"] == 2 and pooled["rows"] == second_alert["figures"]["interval"]["rows"]
    assert pooled["rows_per_window"][1] > 0
    assert "holdout rows pooled from 2 retrains" in slack.messages[-1]["text"]


def test_after_a_rollback_to_the_champion_its_earlier_decisions_are_not_pooled(data_dir, models_dir, slack) -> None:
    """The same chain as above, but version 2 is put in place between the two decisions and rolled
    back: version 1's tenure as champion starts again, and the decision of its former tenure
    (another regime, in real life months ago) stays out of the next decision's evidence."""
    load_weeks(START, weeks=12)
    models_dir(gate={"pooled_windows": 2})
    run_dag("retrain_churn", RUN_AT)
    models_dir(training={"params": {"max_iter": 1, "max_leaf_nodes": 2}}, gate={"pooled_windows": 2, "threshold": 0.5})
    first = run_dag("retrain_churn", RUN_AT + timedelta(weeks=1))
    # Through the path every mover takes (log row, then alias), as promotion and rollback_churn do.
    for to, action, was in [("2", PromotionAction.PROMOTE, "1"), ("1", PromotionAction.ROLLBACK, "2")]:
        move_champion(pipeline_db(), registry("churn"), PromotionRecord("churn", to, action, "test", was), {})

    second = run_dag("retrain_churn", RUN_AT + timedelta(weeks=2))

    assert first == second == {**PASSED, "promote": "skipped"}
    assert [(r.to_version, r.action.value) for r in history(pipeline_db(), "churn")][:2] == [
        ("1", "rollback"),
        ("2", "promote"),
    ]
    assert _aliases()["champion"] == "1"
    assert [r.data.tags.get("retraining.evidence_baseline") for r in _training_runs()].count("1") == 2
    blocked = [a for a in read_alerts(alert_outbox()) if a["kind"] == "gate_blocked"]
    assert len(blocked) == 2 and "pooled" not in blocked[-1]["figures"], "version 1's former tenure is not pooled"
