"""A multiclass model (`task: multiclass`) through real DAG runs on the embedded warehouse: a
three-class target generated here (each customer stays, downgrades or leaves), retrained and
promoted on macro one-vs-rest ROC AUC, scored into the predictions table with its class
probabilities, monitored on the matured labels, then retrained again a week later, when the gate
compares it with its champion on the paired interval.

One module fixture runs it all once; the tests read its results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from demo.churn_data import generate_snapshots, load_window
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.tables import history, read_monitoring
from tests.support import REPO, UTC, pipeline_db, registry, run_dag, warehouse_url

pytestmark = pytest.mark.integration

MODEL, TABLE, CLASSES = "plans", "plan_snapshots", ("downgrade", "leave", "stay")
START = datetime(2026, 2, 2, tzinfo=UTC)  # nine weekly partitions from here
TRAINED_AT = datetime(2026, 3, 16, tzinfo=UTC)  # a Monday: the weekly scoring fire scores (Mar 9, Mar 16]
MONITORED_AT = TRAINED_AT + timedelta(weeks=1)  # its matured window is the week that was scored
RETRAINED_AT = TRAINED_AT + timedelta(weeks=1)


def plan_rows(begin: datetime, seed: int) -> pd.DataFrame:
    """A week of churn demo rows with a three-class `outcome`: who churned leaves; of the others,
    high charges on a monthly contract make a downgrade likely."""
    frame = generate_snapshots(900, begin, begin + timedelta(days=7), seed=seed)
    rng = np.random.default_rng(seed + int(begin.timestamp()))
    charges = frame["monthly_charges"].fillna(70.0).to_numpy()
    pressure = 0.03 * (charges - 70.0) + 1.2 * (frame["contract"] == "month_to_month").to_numpy() - 1.0
    downgrade = rng.uniform(size=len(frame)) < 1 / (1 + np.exp(-pressure))
    outcome = np.where(frame["churned"] == 1, "leave", np.where(downgrade, "downgrade", "stay"))
    return frame.drop(columns=["churned"]).assign(outcome=outcome)


def _served(url: str) -> pd.DataFrame:
    """The live rows of the predictions table, the multiclass columns included."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        query = f"SELECT * FROM {MODEL}_predictions WHERE superseded_at IS NULL ORDER BY event_time, id"
        return pd.read_sql(sa.text(query), engine)
    finally:
        engine.dispose()


def _model_file(folder: Path) -> None:
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config.update(name=MODEL, task="multiclass", target="outcome")
    config["source"]["table"] = TABLE
    config["training"].update(estimator="logistic_regression", params={"max_iter": 500})
    config["gate"] = {"threshold": 0.6}  # the default metric: roc_auc_ovr
    config["scoring"].update(schedule="0 0 * * 1", shadow=False)  # weekly: one run scores the matured week
    config["monitor"].update(min_rows=50, critical_features=[])
    (folder / f"{MODEL}.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("multiclass")
    (root / "models").mkdir()
    _model_file(root / "models")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RETRAINING_DATA_DIR", str(root / "data"))
        env.setenv("RETRAINING_MODELS_DIR", str(root / "models"))
        for name in ("AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_CONN_RETRAINING_DB", "MLFLOW_TRACKING_URI"):
            env.delenv(name, raising=False)
        for week in range(9):
            begin = START + timedelta(weeks=week)
            load_window(warehouse_url(), TABLE, plan_rows(begin, seed=11), begin, begin + timedelta(weeks=1))
        states = {
            "retrain": run_dag(f"retrain_{MODEL}", TRAINED_AT),
            "score": run_dag(f"score_{MODEL}", TRAINED_AT),
            "monitor": run_dag(f"monitor_{MODEL}", MONITORED_AT),
            "retrain_again": run_dag(f"retrain_{MODEL}", RETRAINED_AT),
        }
        db = pipeline_db()
        models = registry(MODEL)
        yield {
            "states": states,
            "config": load_model_config(root / "models" / f"{MODEL}.yaml"),
            "served": _served(load_settings().pipeline_default_url),
            "monitoring": read_monitoring(db, MODEL).to_dict("records"),
            "promotions": history(db, MODEL),
            "runs": models.tracker.client.search_runs(
                [models.tracker.ensure_experiment(MODEL)], order_by=["attributes.start_time ASC"]
            ),
        }


def test_every_run_succeeds_and_the_first_challenger_is_promoted(runs: dict) -> None:
    states = runs["states"]

    assert states["retrain"]["promote"] == "success", states["retrain"]
    assert set(states["score"].values()) == {"success"}, states["score"]
    assert "failed" not in states["monitor"].values() and "upstream_failed" not in states["monitor"].values()
    assert "failed" not in states["retrain_again"].values(), states["retrain_again"]
    assert runs["promotions"][0].to_version == "1"


def test_the_training_run_logs_its_classes_and_the_multiclass_metrics(runs: dict) -> None:
    first = next(r for r in runs["runs"] if "retraining.classes" in r.data.tags)

    assert json.loads(first.data.tags["retraining.classes"]) == list(CLASSES)
    metrics = first.data.metrics
    assert 0.6 < metrics["holdout_roc_auc_ovr"] < 0.99
    assert 0 < metrics["holdout_log_loss"] < np.log(3)  # better than a uniform guess
    assert "holdout_pr_auc" not in metrics  # a binary metric has no multiclass meaning here


def test_the_second_gate_compares_with_the_champion_on_the_paired_macro_auc_interval(runs: dict) -> None:
    second = [r for r in runs["runs"] if "retraining.classes" in r.data.tags][-1]
    metrics = second.data.metrics

    assert "champion_holdout_roc_auc_ovr" in metrics
    assert metrics["improvement_lower"] < metrics["improvement"] < metrics["improvement_upper"]
    assert metrics["improvement_upper"] - metrics["improvement_lower"] < 0.1


def test_the_predictions_table_holds_the_predicted_class_and_every_class_probability(runs: dict) -> None:
    served = runs["served"]
    probabilities = pd.DataFrame([json.loads(p) for p in served["probabilities"]])

    assert len(served) == 900 and set(served["model_version"]) == {"1"}  # the week (Mar 9, Mar 16]
    assert sorted(probabilities.columns) == list(CLASSES)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.idxmax(axis=1).to_numpy() == served["predicted_class"].to_numpy()).all()
    assert np.allclose(probabilities.max(axis=1), served["score"])  # score: the predicted class's probability


def test_the_monitor_measures_macro_auc_on_what_was_served(runs: dict) -> None:
    (row,) = runs["monitoring"]

    assert row["metric"] == "roc_auc_ovr"
    assert row["performance_source"] == "served" and row["rows_served"] == 900
    assert 0.6 < row["metric_current"] < 0.99
    assert row["prediction_psi"] is not None and 0 <= row["prediction_psi"] < 0.1  # nothing drifted
