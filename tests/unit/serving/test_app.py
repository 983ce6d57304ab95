"""The app's answers through FastAPI's test client: MLflow's input formats, the version header,
/health, /version and /ping, and a 4xx that says why for a bad request."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from include.retraining.learning import predict_scores
from serving.app import VERSION_HEADER, create_app
from serving.follower import AliasFollower
from tests.unit.serving.fakes import FEATURES, ROWS, FakeModel, FakeRegistry, follow, scorer

pytestmark = pytest.mark.unit


@pytest.fixture
def client() -> Any:
    registry = FakeRegistry()
    registry.aliases["champion"] = "2"
    follower = follow(registry)
    with TestClient(create_app(follower, follow=False)) as test_client:
        test_client.follower, test_client.registry = follower, registry
        yield test_client


def _expected(registry: FakeRegistry, version: str) -> list[float]:
    return scorer(registry.models[version], ROWS[FEATURES]).tolist()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"dataframe_split": json.loads(ROWS.to_json(orient="split", index=False))})),
        ("application/json", json.dumps({"dataframe_records": json.loads(ROWS.to_json(orient="records"))})),
        ("application/json", json.dumps({"instances": json.loads(ROWS.to_json(orient="records"))})),
        ("application/json", json.dumps({"inputs": {c: json.loads(ROWS[c].to_json(orient="values")) for c in ROWS}})),
        ("text/csv", ROWS.to_csv(index=False)),
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs", "csv"],
)
def test_invocations_answers_mlflow_input_formats_with_the_batch_scores(client: Any, content_type: str, body: str):
    client.follower.poll_once()

    answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})

    assert answer.status_code == 200, answer.text
    assert answer.headers[VERSION_HEADER] == "2"
    assert answer.json() == {"predictions": _expected(client.registry, "2")}


def test_parquet_is_accepted_too(client: Any) -> None:
    client.follower.poll_once()
    buffer = io.BytesIO()
    ROWS.to_parquet(buffer)

    answer = client.post(
        "/invocations", content=buffer.getvalue(), headers={"Content-Type": "application/vnd.apache.parquet"}
    )

    assert answer.json() == {"predictions": _expected(client.registry, "2")}


def test_version_and_health_name_the_served_version(client: Any) -> None:
    client.follower.poll_once()

    version, health = client.get("/version"), client.get("/health")

    assert version.status_code == 200 and version.json()["version"] == "2"
    assert version.json()["model"] == "churn" and version.json()["features"] == FEATURES
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["version"] == "2"
    assert client.get("/ping").status_code == 200


def test_before_any_version_is_loaded_every_endpoint_says_unavailable(client: Any) -> None:
    answers = [client.get("/ping"), client.get("/health"), client.get("/version")]
    answers.append(client.post("/invocations", json={"dataframe_records": [{"tenure": 1, "plan": "a"}]}))

    assert [a.status_code for a in answers] == [503, 503, 503, 503]
    assert answers[1].json()["status"] == "unavailable"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (json.dumps({"dataframe_records": [{"tenure": 3}]}), "application/json", "needs feature columns ['plan']"),
        ("{not json", "application/json", "valid JSON"),
        (json.dumps({"rows": []}), "application/json", "exactly one of the input fields"),
        ("tenure,plan\n1,a\n", "text/plain", "content types"),
    ],
    ids=["missing column", "bad json", "unknown format", "unknown content type"],
)
def test_bad_requests_get_a_4xx_that_says_why(client: Any, body: str, content_type: str, expected: str) -> None:
    client.follower.poll_once()

    answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})

    assert 400 <= answer.status_code < 500 and expected in answer.text


class _ThreeClasses(FakeModel):
    """A multiclass stand-in: the binary fake's probabilities, its negative class split in two."""

    classes_ = np.array(["downgrade", "leave", "stay"], dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        stay = super().predict_proba(frame)[:, 1]
        return np.column_stack([0.25 * (1 - stay), 0.75 * (1 - stay), stay])


def test_a_multiclass_model_answers_class_probabilities_per_row_as_mlflow_answers_a_frame() -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "2"
    registry.models["2"] = _ThreeClasses(1.0)
    follower = AliasFollower(
        "plans", "champion", registry, lambda m, f: predict_scores(m, f, "multiclass"), FEATURES, poll_seconds=1.0
    )
    follower.poll_once()

    with TestClient(create_app(follower, follow=False)) as client:
        answer = client.post("/invocations", json={"dataframe_records": json.loads(ROWS.to_json(orient="records"))})

    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    expected = _ThreeClasses(1.0).predict_proba(ROWS)
    assert [list(row) for row in rows] == [["downgrade", "leave", "stay"]] * len(ROWS)
    assert np.allclose([[row[c] for c in ("downgrade", "leave", "stay")] for row in rows], expected)
