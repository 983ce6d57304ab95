"""`read_served` beside REST answers, and under a sample drawn by another backend's id hash: the served predictions kept in
SQLite follow the ids a MariaDB or DuckDB source sampled (the hash computed in Python), and a
PostgreSQL sample, whose hash has no Python twin, is refused with the fix. The same-backend SQL
filter on a real server: tests/integration/test_warehouse_dialects.py, test_monitor_sample.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import load_model_config
from include.retraining.predictions import read_served
from include.retraining.warehouse import HASH_SPACE, Database, WarehouseError, python_hash
from tests.support import REPO
from tests.support_served import predictions_for, write_predictions

pytestmark = pytest.mark.unit

CONFIG = load_model_config(REPO / "include" / "models" / "churn.yaml")
END = datetime(2026, 3, 16, tzinfo=UTC)
START = END - timedelta(days=7)
BELOW = HASH_SPACE // 4


@pytest.fixture
def pipeline(tmp_path: Path) -> Database:
    source = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(400)],
            "snapshot_at": pd.date_range(START.replace(tzinfo=None), periods=400, freq="20min") + pd.Timedelta("1s"),
        }
    )
    url = f"sqlite:///{tmp_path / 'pipeline.db'}"
    write_predictions(url, predictions_for(source, "1", "champion", np.linspace(0, 1, 400), START, END))
    return Database(url)


@pytest.mark.parametrize("source_backend", ["mariadb", "duckdb"])
def test_served_rows_follow_the_ids_another_backend_sampled(pipeline: Database, source_backend: str) -> None:
    hashed = python_hash(source_backend)

    every = read_served(pipeline, CONFIG, START, END)
    kept = read_served(pipeline, CONFIG, START, END, below=BELOW, hashed_by=source_backend)

    assert len(every) == 400
    assert set(kept["id"]) == {i for i in every["id"] if hashed(i) < BELOW}
    assert 50 < len(kept) < 150 and kept["event_time"].is_monotonic_increasing


def test_a_postgres_sample_cannot_be_followed_from_sqlite_and_says_what_to_do(pipeline: Database) -> None:
    assert len(read_served(pipeline, CONFIG, START, END, hashed_by="postgresql")) == 400  # unsampled: fine

    with pytest.raises(WarehouseError, match=r"model 'churn': .*postgresql source .* retraining_db on postgresql") as e:
        read_served(pipeline, CONFIG, START, END, below=BELOW, hashed_by="postgresql")

    assert "monitor.max_rows" in str(e.value)


def test_the_monitor_reads_only_the_live_rows_of_a_rescored_window(pipeline: Database, tmp_path: Path) -> None:
    source = read_served(pipeline, CONFIG, START, END).rename(
        columns={"id": "customer_id", "event_time": "snapshot_at"}
    )
    rescored = predictions_for(source, "2", "champion", np.full(len(source), 0.5), START, END)
    write_predictions(f"sqlite:///{tmp_path / 'pipeline.db'}", rescored)  # the rescore after a champion move

    served = read_served(pipeline, CONFIG, START, END)

    assert len(served) == 400 and set(served["model_version"]) == {"2"}


def test_rest_answers_of_the_same_ids_and_times_are_read_beside_the_batch_rows_and_labelled(
    pipeline: Database,
) -> None:
    from include.retraining.inference import Answer, PredictionAppender, answer_rows
    from include.retraining.predictions import read_served_with_labels

    batch = read_served(pipeline, CONFIG, START, END)
    sent = batch.rename(columns={"id": "customer_id", "event_time": "snapshot_at"})[["customer_id", "snapshot_at"]]
    sent["snapshot_at"] = sent["snapshot_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")  # as a JSON client sends it
    answer = Answer("churn", "1", "champion", "req-1", END.replace(tzinfo=None), sent, np.full(len(sent), 0.25))
    appender = PredictionAppender(pipeline, CONFIG.predictions_table)
    appender.append(answer_rows([answer], CONFIG.features.columns, "customer_id", "snapshot_at"))
    appender.close()
    labels = sent.assign(snapshot_at=batch["event_time"], churned=np.arange(len(sent)) % 2)
    with pipeline.engine() as engine, engine.begin() as conn:
        labels.to_sql("customer_snapshots", conn, index=False)  # the source, its labels arrived

    served = read_served(pipeline, CONFIG, START, END)
    labelled = read_served_with_labels(pipeline, CONFIG, START, END)

    assert served.groupby("source").size().to_dict() == {"batch": 400, "rest": 400}
    assert len(labelled) == 800 and labelled["label"].notna().all() and not labelled["label_conflict"].any()
    rest = labelled[labelled["source"] == "rest"].set_index("id")["label"]
    assert rest.to_dict() == labelled[labelled["source"] == "batch"].set_index("id")["label"].to_dict()
