"""REST serving without a server process: the alias follower against a fake registry (swap, keep
the old version on failures, report them), and the app's answers through FastAPI's test client
(MLflow's input formats, the version header, /health and /version)."""

from __future__ import annotations

import ast
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from include.retraining.learning.training import predict_scores
from serving.__main__ import DEFAULT_POLL_SECONDS, batch_scorer, parse_args
from serving.app import VERSION_HEADER, create_app
from serving.follower import AliasFollower, AliasTarget, ServingInputError
from tests.support import REPO

pytestmark = pytest.mark.unit

FEATURES = ["tenure", "plan"]


class _Model:
    """A fitted-model stand-in: its own feature list, a score that depends on the row and the version."""

    def __init__(self, offset: float, broken: bool = False) -> None:
        self.offset = offset
        self.broken = broken
        self.feature_names_in_ = np.array(FEATURES, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.broken:
            raise ValueError("tree arrays do not match")
        tenure = pd.to_numeric(frame["tenure"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        p = 1.0 / (1.0 + np.exp(-(tenure / 10.0 + self.offset)))
        return np.column_stack([1.0 - p, p])


class _Registry:
    """The follower's view of the registry: an alias table, loadable versions, injectable failures."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.models: dict[str, Any] = {"1": _Model(0.0), "2": _Model(1.0)}
        self.down = False

    def alias_target(self, alias: str) -> AliasTarget | None:
        if self.down:
            raise RuntimeError("connection refused")
        version = self.aliases.get(alias)
        return AliasTarget(version, f"run-{version}") if version else None

    def load(self, version: str) -> Any:
        model = self.models[version]
        if isinstance(model, Exception):
            raise model
        return model


def _scorer(model: Any, frame: pd.DataFrame) -> np.ndarray:
    return predict_scores(model, frame, "classification")


def _follower(registry: _Registry) -> AliasFollower:
    return AliasFollower("churn", "champion", registry, _scorer, FEATURES, poll_seconds=1.0)


ROWS = pd.DataFrame({"tenure": [1.0, 12.0, None], "plan": ["a", "b", None]})


def test_the_first_poll_serves_the_version_behind_the_alias() -> None:
    registry = _Registry()
    registry.aliases["champion"] = "1"
    follower = _follower(registry)

    follower.poll_once()

    assert follower.served.version == "1" and follower.served.features == tuple(FEATURES)
    assert follower.state().to_json()["status"] == "ok"


def test_a_moved_alias_swaps_the_version_and_a_request_in_flight_keeps_its_own() -> None:
    registry = _Registry()
    registry.aliases["champion"] = "1"
    follower = _follower(registry)
    follower.poll_once()
    in_flight = follower.served

    registry.aliases["champion"] = "2"
    follower.poll_once()

    assert follower.served.version == "2"
    np.testing.assert_array_equal(in_flight.score(ROWS), _scorer(registry.models["1"], ROWS[FEATURES]))
    np.testing.assert_array_equal(follower.served.score(ROWS), _scorer(registry.models["2"], ROWS[FEATURES]))


@pytest.mark.parametrize(
    "bad",
    [RuntimeError("model.skops is missing"), _Model(0.0, broken=True)],
    ids=["cannot load", "loads but cannot score"],
)
def test_a_version_that_cannot_serve_leaves_the_old_one_and_is_reported(bad: Any) -> None:
    registry = _Registry()
    registry.aliases["champion"] = "1"
    follower = _follower(registry)
    follower.poll_once()

    registry.models["3"], registry.aliases["champion"] = bad, "3"
    follower.poll_once()

    state = follower.state().to_json()
    assert follower.served.version == "1"
    assert state["status"] == "degraded" and state["failed_version"] == "3" and state["alias_version"] == "3"
    assert "version 3" in state["error"] and "still serving version 1" in state["error"]


def test_a_rollback_after_a_failed_version_clears_the_report() -> None:
    registry = _Registry()
    registry.aliases["champion"] = "1"
    follower = _follower(registry)
    follower.poll_once()
    registry.models["3"], registry.aliases["champion"] = RuntimeError("corrupt"), "3"
    follower.poll_once()

    registry.aliases["champion"] = "1"
    follower.poll_once()

    assert follower.served.version == "1" and follower.state().to_json()["error"] is None


def test_an_unreachable_registry_keeps_the_served_version_and_says_so() -> None:
    registry = _Registry()
    registry.aliases["champion"] = "1"
    follower = _follower(registry)
    follower.poll_once()

    registry.down = True
    follower.poll_once()

    assert follower.served.version == "1"
    assert "connection refused" in follower.state().error


def test_no_alias_at_start_serves_nothing_and_a_removed_alias_keeps_the_last_version() -> None:
    registry = _Registry()
    follower = _follower(registry)
    follower.poll_once()
    assert follower.served is None and follower.state().status == "unavailable"

    registry.aliases["champion"] = "1"
    follower.poll_once()
    del registry.aliases["champion"]
    follower.poll_once()

    assert follower.served.version == "1"
    assert "no alias 'champion'" in follower.state().error


def test_a_missing_feature_column_is_named() -> None:
    registry = _Registry()
    registry.aliases["champion"] = "1"
    follower = _follower(registry)
    follower.poll_once()

    with pytest.raises(ServingInputError, match=r"needs feature columns \['plan'\]"):
        follower.served.score(ROWS[["tenure"]])


@pytest.fixture
def client() -> Any:
    registry = _Registry()
    registry.aliases["champion"] = "2"
    follower = _follower(registry)
    with TestClient(create_app(follower, follow=False)) as test_client:
        test_client.follower, test_client.registry = follower, registry
        yield test_client


def _expected(registry: _Registry, version: str) -> list[float]:
    return _scorer(registry.models[version], ROWS[FEATURES]).tolist()


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


def test_the_options_read_the_environment_and_refuse_a_bad_interval() -> None:
    args = parse_args([], env={"SERVING_MODEL": "churn", "SERVING_PORT": "9001"})
    assert (args.model, args.alias, args.port, args.poll_seconds) == ("churn", "champion", 9001, DEFAULT_POLL_SECONDS)
    assert DEFAULT_POLL_SECONDS <= 30
    with pytest.raises(SystemExit):
        parse_args([], env={})
    with pytest.raises(SystemExit):
        parse_args(["--model", "churn", "--poll-seconds", "0"], env={})


def _imports(path: Any) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_serving_never_imports_airflow_and_only_the_app_imports_mlflow() -> None:
    modules = {path.name: _imports(path) for path in sorted((REPO / "serving").glob("*.py"))}

    assert [name for name, names in modules.items() if "airflow" in names] == []
    assert [name for name, names in modules.items() if "mlflow" in names] == ["app.py"]


@pytest.fixture(scope="module")
def churn() -> tuple[Any, Any, pd.DataFrame]:
    from datetime import UTC, datetime

    from demo.churn_data import generate_snapshots
    from include.retraining.config.files import load_model_config
    from include.retraining.learning.training import fit

    config = load_model_config(REPO / "include" / "models" / "churn.yaml")
    config = config.model_copy(update={"training": config.training.model_copy(update={"params": {"max_iter": 20}})})
    frame = generate_snapshots(400, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC), seed=3)
    return config, fit(config, frame), frame


def test_the_server_scores_with_the_batch_scorer_and_refuses_what_it_refuses(churn: tuple) -> None:
    from include.retraining.config.scoring import scoring_of
    from include.retraining.score.scoring import score_frame

    config, model, frame = churn
    strict = config.model_copy(update={"scoring": scoring_of(config).model_copy(update={"nulls": "fail"})})
    registry = _Registry()
    registry.models["1"], registry.aliases["champion"] = model, "1"
    scorer, probe = batch_scorer(strict, 1)
    follower = AliasFollower("churn", "champion", registry, scorer, [], poll_seconds=1.0, probe=probe)

    follower.poll_once()  # the probe row is all nulls: the model imputes them, the checks are not asked

    complete = frame.dropna(subset=list(config.features.columns))
    np.testing.assert_array_equal(follower.served.score(complete), score_frame(model, complete, config))
    with pytest.raises(ServingInputError, match="nulls"):
        follower.served.score(frame)
