"""The server's door against a real fitted churn model and the batch scorer: a value not of its
column's type is a 400 naming the column and the row (never the value, never a traceback), the
token, the body and row limits, a clean 500, /health going 503 when the version is stale, and
/metrics counting what was answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.__main__ import batch_scorer, numeric_features
from serving.app import REQUEST_ID_HEADER, create_app
from serving.follower import AliasFollower
from serving.limits import ServingLimits
from tests.support import REPO
from tests.unit.serving.fakes import FakeRegistry

pytestmark = pytest.mark.unit

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def churn() -> tuple[Any, Any, pd.DataFrame]:
    from demo.churn_data import generate_snapshots
    from include.retraining.config import load_model_config
    from include.retraining.learning import fit

    config = load_model_config(REPO / "include" / "models" / "churn.yaml")
    config = config.model_copy(update={"training": config.training.model_copy(update={"params": {"max_iter": 20}})})
    frame = generate_snapshots(400, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC), seed=3)
    rows = frame.dropna(subset=list(config.features.columns)).head(3)[list(config.features.columns)]
    return config, fit(config, frame), rows.reset_index(drop=True)


def _client(churn: tuple, limits: ServingLimits | None = None, **scoring: str) -> TestClient:
    config, model, _ = churn
    if scoring:
        config = config.model_copy(update={"scoring": config.scoring_or_defaults.model_copy(update=scoring)})
    registry = FakeRegistry()
    registry.models["1"], registry.aliases["champion"] = model, "1"
    scorer, probe = batch_scorer(config, 1)
    follower = AliasFollower(
        "churn", "champion", registry, scorer, [], poll_seconds=1.0, probe=probe, numeric=numeric_features(config)
    )
    follower.poll_once()
    return TestClient(create_app(follower, follow=False, limits=limits), raise_server_exceptions=False)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(rows.to_json(orient="records"))


def _post(client: TestClient, body: str, content_type: str = "application/json", **headers: str) -> Any:
    return client.post("/invocations", content=body, headers={"Content-Type": content_type, **headers})


def _assert_clean(answer: Any, *values: str) -> None:
    """An error body: the message and request id, no value of the request, no traceback."""
    assert answer.json()["request_id"] == answer.headers[REQUEST_ID_HEADER]
    assert "Traceback" not in answer.text and "stack_trace" not in answer.text
    for value in values:
        assert value not in answer.text


@pytest.mark.parametrize("value", ["twelve", "N/A", "", "12", [12], {"months": 12}], ids=repr)
def test_a_value_that_is_not_a_number_gets_a_400_naming_the_column_and_row(churn: tuple, value: Any) -> None:
    records = _records(churn[2])
    records[1]["tenure_months"] = value

    answer = _post(_client(churn), json.dumps({"dataframe_records": records}))

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("column 'tenure_months' row 1: ")
    assert answer.json()["problems"][0] | {"problem": None} == {
        "column": "tenure_months",
        "row": 1,
        "expected": "a number",
        "problem": None,
        "rows": 1,
    }
    _assert_clean(answer, *([value] if value in ("twelve", "N/A") else []))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_refused_not_imputed(churn: tuple, literal: str) -> None:
    records = _records(churn[2])
    body = json.dumps({"dataframe_records": records}).replace(
        f'"monthly_charges": {records[2]["monthly_charges"]}', f'"monthly_charges": {literal}'
    )

    answer = _post(_client(churn), body)

    assert answer.status_code == 400 and literal in body
    assert answer.json()["message"].startswith("column 'monthly_charges' row 2: a non-finite number")


def test_infinity_in_a_csv_and_text_in_a_csv_are_refused_too(churn: tuple) -> None:
    rows = churn[2].astype({"support_tickets_90d": object, "monthly_charges": "float64"})
    rows.loc[0, "support_tickets_90d"], rows.loc[1, "monthly_charges"] = "lots", float("inf")

    answer = _post(_client(churn), rows.to_csv(index=False), "text/csv")

    assert answer.status_code == 400
    assert [(p["column"], p["row"]) for p in answer.json()["problems"]] == [
        ("monthly_charges", 1),
        ("support_tickets_90d", 0),
    ]
    _assert_clean(answer, "lots")


def test_nulls_follow_scoring_nulls_and_bad_values_never_do(churn: tuple) -> None:
    records = _records(churn[2])
    records[0]["monthly_charges"] = None

    imputed = _post(_client(churn), json.dumps({"dataframe_records": records}))
    refused = _post(_client(churn, nulls="fail"), json.dumps({"dataframe_records": records}))

    assert imputed.status_code == 200 and len(imputed.json()["predictions"]) == 3
    assert refused.status_code == 400 and refused.json()["message"].startswith("column 'monthly_charges' row 0: a null")


def test_an_unseen_category_under_fail_names_the_column_and_row_but_not_the_category(churn: tuple) -> None:
    records = _records(churn[2])
    records[2]["region"] = "atlantis"

    scored = _post(_client(churn), json.dumps({"dataframe_records": records}))
    refused = _post(_client(churn, unseen_categories="fail"), json.dumps({"dataframe_records": records}))

    assert scored.status_code == 200
    assert refused.status_code == 400 and refused.json()["message"].startswith("column 'region' row 2: a category")
    _assert_clean(refused, "atlantis")


def test_every_input_format_is_checked(churn: tuple) -> None:
    rows = churn[2].astype({"tenure_months": object})
    rows.loc[1, "tenure_months"] = "twelve"
    bodies = [
        {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))},
        {"instances": _records(rows)},
        {"inputs": {c: json.loads(rows[c].to_json(orient="values")) for c in rows}},
    ]
    client = _client(churn)

    answers = [_post(client, json.dumps(body)) for body in bodies]

    assert [(a.status_code, a.json()["problems"][0]["row"]) for a in answers] == [(400, 1)] * 3


def test_a_model_error_is_a_clean_500_with_a_request_id(churn: tuple, caplog: pytest.LogCaptureFixture) -> None:
    config, model, rows = churn

    class Broken:
        feature_names_in_ = model.feature_names_in_

        def predict_proba(self, frame: pd.DataFrame) -> Any:
            raise ValueError(f"Input contains infinity: {frame.to_dict()}")

    registry = FakeRegistry()
    registry.models["1"], registry.aliases["champion"] = Broken(), "1"
    scorer, _ = batch_scorer(config, 1)
    follower = AliasFollower("churn", "champion", registry, scorer, [], 1.0, probe=lambda m, f: None)
    follower.poll_once()
    broken = TestClient(create_app(follower, follow=False), raise_server_exceptions=False)

    answer = _post(broken, json.dumps({"dataframe_records": _records(rows)}))

    assert answer.status_code == 500 and answer.json()["error_code"] == "INTERNAL_ERROR"
    assert answer.json()["request_id"] in answer.json()["message"]
    _assert_clean(answer, "infinity", str(rows.loc[0, "monthly_charges"]))
    assert "Input contains infinity" in caplog.text and answer.json()["request_id"] in caplog.text


def test_the_token_is_required_on_scoring_and_version_but_not_on_health(churn: tuple) -> None:
    client = _client(churn, ServingLimits(token=TOKEN))
    body = json.dumps({"dataframe_records": _records(churn[2])})

    missing = _post(client, body)
    wrong = _post(client, body, Authorization=f"Bearer {TOKEN}x")
    basic = _post(client, body, Authorization=f"Basic {TOKEN}")
    right = _post(client, body, Authorization=f"Bearer {TOKEN}")

    assert [a.status_code for a in (missing, wrong, basic, right)] == [401, 401, 401, 200]
    assert missing.headers["WWW-Authenticate"] == "Bearer" and TOKEN not in wrong.text
    assert client.get("/version").status_code == 401
    assert client.get("/version", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/ping").status_code == 200


def test_a_body_over_the_limit_gets_a_413_before_it_is_read_and_rows_over_the_limit_too(churn: tuple) -> None:
    client = _client(churn, ServingLimits(max_body_bytes=2048, max_rows=2))
    body = json.dumps({"dataframe_records": _records(churn[2])})
    large = json.dumps({"dataframe_records": _records(churn[2]) * 20})

    too_large = _post(client, large)
    too_many = _post(client, body)
    fits = _post(client, json.dumps({"dataframe_records": _records(churn[2].head(2))}))

    assert len(large) > 2048 >= len(body)
    assert too_large.status_code == 413 and "at most 2048" in too_large.json()["message"]
    assert too_many.status_code == 413 and "3 rows" in too_many.json()["message"]
    assert fits.status_code == 200


def test_health_answers_503_once_the_served_version_is_stale(churn: tuple) -> None:
    config, model, _ = churn
    registry, now = FakeRegistry(), [datetime(2026, 12, 1, tzinfo=UTC)]
    registry.models["1"], registry.aliases["champion"] = model, "1"
    follower = AliasFollower("churn", "champion", registry, *batch_scorer(config, 1)[:1], [], 1.0, clock=lambda: now[0])
    follower.poll_once()
    client = TestClient(create_app(follower, follow=False, limits=ServingLimits(max_staleness_seconds=60)))

    fresh = client.get("/health")
    registry.down = True
    now[0] += timedelta(seconds=61)
    follower.poll_once()
    stale = client.get("/health")

    assert fresh.status_code == 200 and fresh.json()["status"] == "ok"
    assert stale.status_code == 503 and stale.json()["status"] == "stale" and stale.json()["version"] == "1"
    body = json.dumps({"dataframe_records": _records(churn[2])})
    assert _post(client, body).status_code == 200  # still scores: /health tells the operator


def test_one_column_of_the_wrong_type_is_named_even_when_others_are_missing(churn: tuple) -> None:
    answer = _post(_client(churn), json.dumps({"dataframe_records": [{"tenure_months": "twelve"}]}))

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("column 'tenure_months' row 0: text, not a number")
    assert "needs feature columns" in answer.json()["message"] and "'monthly_charges'" in answer.json()["message"]
    _assert_clean(answer, "twelve")


def test_requests_beyond_the_admitted_ones_get_a_503_before_their_body_is_read(churn: tuple) -> None:
    import threading

    entered, release = threading.Event(), threading.Event()

    def slow(model: Any, frame: pd.DataFrame) -> Any:
        entered.set()
        release.wait(timeout=60)
        return np.zeros(len(frame))

    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = AliasFollower("churn", "champion", registry, slow, ["tenure", "plan"], 1.0, probe=lambda m, f: None)
    follower.poll_once()
    body = json.dumps({"dataframe_records": [{"tenure": 1, "plan": "a"}]})
    limits = ServingLimits(workers=1, max_pending=1)
    with TestClient(create_app(follower, follow=False, limits=limits)) as client:
        first: list[Any] = []
        worker = threading.Thread(target=lambda: first.append(_post(client, body)))
        worker.start()
        assert entered.wait(timeout=60)
        busy = _post(client, body)
        release.set()
        worker.join(timeout=60)
        after = _post(client, body)

    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert first[0].status_code == 200 and after.status_code == 200


@pytest.mark.parametrize(
    "split",
    [
        {"columns": ["tenure_months", "tenure_months"], "data": [[1, 2]]},
        {"columns": 5, "data": [[1]]},
        {"columns": ["tenure_months", "region"], "data": [[1, "a"], [2]]},
        {"data": [[1, "a"], [2]]},
    ],
    ids=["duplicate columns", "columns not a list", "short row", "ragged rows"],
)
def test_a_malformed_split_is_a_400_that_says_what_is_wrong(churn: tuple, split: dict) -> None:
    answer = _post(_client(churn), json.dumps({"dataframe_split": split}))

    assert answer.status_code == 400 and "'dataframe_split'" in answer.json()["message"]
    _assert_clean(answer)


def _metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_answers_by_code_time_them_and_name_the_version_and_its_swaps(churn) -> None:
    config, model, rows = churn
    registry = FakeRegistry()
    registry.models["1"] = registry.models["2"] = model
    registry.aliases["champion"] = "1"
    scorer, probe = batch_scorer(config, 1)
    follower = AliasFollower(
        "churn", "champion", registry, scorer, [], poll_seconds=1.0, probe=probe, numeric=numeric_features(config)
    )
    follower.poll_once()
    client = TestClient(create_app(follower, follow=False, limits=ServingLimits(token=TOKEN)))
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    good = json.dumps({"dataframe_records": _records(rows)})
    bad = json.dumps({"dataframe_records": [{**_records(rows)[0], "tenure_months": "twelve"}]})

    assert client.post("/invocations", content=good, headers=auth).status_code == 200
    assert client.post("/invocations", content=good, headers=auth).status_code == 200
    assert client.post("/invocations", content=bad, headers=auth).status_code == 400
    assert client.post("/invocations", content=good).status_code == 401
    registry.aliases["champion"] = "2"
    follower.poll_once()  # the alias moved: a swap

    assert client.get("/metrics").status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    samples = _metric_samples(scraped.text)

    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert samples[("serving_requests_total", (("code", "200"),))] == 2
    assert samples[("serving_requests_total", (("code", "400"),))] == 1
    assert samples[("serving_requests_total", (("code", "401"),))] == 1
    assert samples[("serving_request_seconds_count", ())] == 4
    assert samples[("serving_model_version_info", (("alias", "champion"), ("model", "churn"), ("version", "2")))] == 1
    assert samples[("serving_swaps_total", ())] == 1
    assert samples[("serving_requests_in_flight", ())] == 0
    assert 0 <= samples[("serving_registry_confirmed_age_seconds", ())] < 60
