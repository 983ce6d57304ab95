"""The server's inference log: every answer written to the predictions table as `source = 'rest'`
(a real SQLite pipeline database), flushed at shutdown, counted on /metrics; the switch and the
database it writes to."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from include.retraining.common import load_settings
from include.retraining.config import FeaturesConfig, load_model_config
from serving.app import REQUEST_ID_HEADER, VERSION_HEADER, create_app
from serving.inference_log import log_database_url, log_enabled, open_inference_log
from tests.support import REPO
from tests.unit.serving.fakes import FakeRegistry, follow

pytestmark = pytest.mark.unit


@pytest.fixture
def config() -> Any:
    churn = load_model_config(REPO / "include" / "models" / "churn.yaml")
    return churn.model_copy(update={"features": FeaturesConfig(numeric=["tenure"], categorical=["plan"])})


def _logged(db_url: str) -> pd.DataFrame:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(sa.text("SELECT * FROM churn_predictions ORDER BY scored_at, run_id, id"), conn)
    finally:
        engine.dispose()


def test_every_answer_is_written_with_its_version_and_request_id_by_shutdown(config: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pipeline.db'}"
    env = {"SERVING_INFERENCE_LOG_DB": url, "SERVING_INFERENCE_LOG_FLUSH_MS": "60000"}  # only shutdown writes
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    inference_log = open_inference_log(load_settings(), config, env)
    answers = []
    with TestClient(create_app(follower, follow=False, inference_log=inference_log)) as client:
        follower.poll_once()
        records = [{"customer_id": 41, "snapshot_at": "2026-12-01T04:00:00Z", "tenure": 3, "plan": "a"}]
        answers.append(client.post("/invocations", json={"dataframe_records": records}))
        registry.aliases["champion"] = "2"
        follower.poll_once()
        answers.append(client.post("/invocations", json={"dataframe_records": [{"tenure": 5, "plan": "b"}] * 2}))
        refused = client.post("/invocations", json={"dataframe_records": [{"plan": "b"}]})  # no tenure
        backlog = client.get("/metrics").text

    rows = _logged(url)
    assert refused.status_code == 400 and "serving_inference_log_backlog_rows 3.0" in backlog
    assert rows["model_version"].tolist() == ["1", "2", "2"] and set(rows["source"]) == {"rest"}
    assert (
        rows["run_id"].tolist() == [answers[0].headers[REQUEST_ID_HEADER]] + [answers[1].headers[REQUEST_ID_HEADER]] * 2
    )
    assert [a.headers[VERSION_HEADER] for a in answers] == ["1", "2"]
    assert rows["id"].tolist()[0] == "41" and rows["id"].tolist()[1].startswith("rest:")
    assert str(rows["event_time"][0]).startswith("2026-12-01 04:00:00")
    assert rows["score"].tolist() == [*answers[0].json()["predictions"], *answers[1].json()["predictions"]]


def test_metrics_count_the_rows_written(config: Any, tmp_path: Path) -> None:
    env = {"SERVING_INFERENCE_LOG_DB": f"sqlite:///{tmp_path / 'pipeline.db'}", "SERVING_INFERENCE_LOG_FLUSH_MS": "10"}
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    with TestClient(
        create_app(follower, follow=False, inference_log=open_inference_log(load_settings(), config, env))
    ) as client:
        follower.poll_once()
        client.post("/invocations", json={"dataframe_records": [{"tenure": 5, "plan": "b"}] * 4})
        for _ in range(200):
            text = client.get("/metrics").text
            if "serving_inference_log_written_rows_total 4.0" in text:
                break
            time.sleep(0.02)

    assert "serving_inference_log_written_rows_total 4.0" in text
    assert "serving_inference_log_dropped_rows_total 0.0" in text


def test_the_environment_overrides_the_model_file_and_a_bad_switch_is_refused(config: Any) -> None:
    off = config.model_copy(update={"serving": config.serving.model_copy(update={"inference_log": False})})

    assert log_enabled(config, {}) and not log_enabled(off, {})
    assert not log_enabled(config, {"SERVING_INFERENCE_LOG": "off"}) and log_enabled(
        off, {"SERVING_INFERENCE_LOG": "ON"}
    )
    assert open_inference_log(load_settings(), config, {"SERVING_INFERENCE_LOG": "off"}) is None
    with pytest.raises(ValueError, match="SERVING_INFERENCE_LOG='maybe': use on or off"):
        log_enabled(config, {"SERVING_INFERENCE_LOG": "maybe"})


def test_the_database_is_the_servers_own_setting_else_the_pipelines_url_else_the_embedded_one() -> None:
    settings = load_settings()
    pipeline = "postgresql+psycopg2://retraining@db/retraining"

    assert log_database_url(settings, {"SERVING_INFERENCE_LOG_DB": "sqlite:///x.db"}) == "sqlite:///x.db"
    assert log_database_url(settings, {"AIRFLOW_CONN_RETRAINING_DB": pipeline}) == pipeline
    assert log_database_url(settings, {"AIRFLOW_CONN_RETRAINING_DB": '{"conn_type": "postgres"}'}) == (
        settings.pipeline_default_url
    )
    assert log_database_url(settings, {}) == settings.pipeline_default_url


def test_a_database_that_is_down_fails_no_request_and_shows_on_metrics(config: Any) -> None:
    env = {
        "SERVING_INFERENCE_LOG_DB": "postgresql+psycopg2://nobody@127.0.0.1:1/nothing",  # nothing listens there
        "SERVING_INFERENCE_LOG_FLUSH_MS": "10",
        "SERVING_INFERENCE_LOG_CLOSE_SECONDS": "0.5",
    }
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    inference_log = open_inference_log(load_settings(), config, env)
    with TestClient(create_app(follower, follow=False, inference_log=inference_log)) as client:
        follower.poll_once()
        answers = [
            client.post("/invocations", json={"dataframe_records": [{"tenure": 5, "plan": "b"}]}) for _ in range(3)
        ]
        for _ in range(250):
            text = client.get("/metrics").text
            if "serving_inference_log_failed_writes_total 0.0" not in text:
                break
            time.sleep(0.02)

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert "serving_inference_log_backlog_rows 3.0" in text and "serving_inference_log_written_rows_total 0.0" in text
    assert inference_log.counts().dropped == 3  # counted at shutdown: the database never came back
