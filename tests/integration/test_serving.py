"""`python -m serving` as a process on loopback, against a real MLflow store holding two versions
of churn logged as the pipeline logs them (skops): its scores equal the batch scorer's row for row,
and the alias moves (promotion, rollback, a version that cannot load) while requests run in a loop
drop none of them. Its door: the token (read from a file), values not of their column's type, and
a 100 MB body, after which it still answers. Its inference log, in a PostgreSQL pipeline database:
1,000 answers written with their versions and used by the monitor's performance step once their
labels arrive, and an alias move under load seen in it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support import REPO, fresh_postgres_databases, registry, tracker
from tests.support_faults import free_port, wait_until
from tests.support_served import labels_arrive, log_version

if TYPE_CHECKING:
    from include.retraining.common import Settings
    from include.retraining.config import ModelConfig
    from include.retraining.tracking import Registry, Tracker

pytestmark = pytest.mark.integration

POLL_SECONDS = 1.0
# Deadlines that only say when to call the server hung, far above what a busy machine needs: start-up
# (imports and the first load: ~40 s on 2 busy cores) and an alias move reaching the server (one poll
# and one load). Serving's contract (60 s per move) is measured by `make bench-serve`, not asserted here.
START_DEADLINE_S = 360
SWAP_DEADLINE_S = 180
START = datetime(2026, 1, 5, tzinfo=UTC)
TOKEN = "integration-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json", **AUTH}


@dataclass
class Store:
    settings: Settings
    config: ModelConfig
    versions: list[str]

    def tracker(self) -> Tracker:
        return tracker(self.settings)

    def registry(self) -> Registry:
        return registry("churn", self.settings)


def _log_version(store_settings: Settings, config: ModelConfig, seed: int) -> str:
    """Fit churn on a week of demo rows and log it as the retrain's train step does, then register it."""
    from demo.churn_data import generate_snapshots

    start = START + timedelta(days=7 * seed)
    return log_version(
        store_settings, config, generate_snapshots(1200, start, start + timedelta(days=7), seed=seed), seed
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config

    with pytest.MonkeyPatch.context() as patch:  # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        data = tmp_path_factory.mktemp("serving") / "data"
        settings = load_settings({"RETRAINING_DATA_DIR": str(data)})
        config = load_model_config(REPO / "include" / "models" / "churn.yaml")
        versions = [_log_version(settings, config, seed) for seed in (1, 2)]
        store = Store(settings, config, versions)
        store.registry().promote(versions[0], {})
        yield store


@pytest.fixture(scope="module")
def pipeline_url() -> Iterator[str]:
    """The pipeline database the server's inference log writes to (and the monitor reads)."""
    with fresh_postgres_databases("serving_log") as (url,):
        yield url


@pytest.fixture(scope="module")
def server(store: Store, pipeline_url: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    token_file = store.settings.data_dir / "serving-token"
    token_file.write_text(TOKEN + "\n")
    env = {k: v for k, v in env.items() if not k.startswith("SERVING_")}
    env |= {
        "RETRAINING_DATA_DIR": str(store.settings.data_dir),
        "RETRAINING_MODELS_DIR": str(REPO / "include" / "models"),
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "SERVING_TOKEN_FILE": str(token_file),
        "SERVING_INFERENCE_LOG_DB": pipeline_url,
    }
    log = store.settings.data_dir / "serving.log"
    command = [sys.executable, "-m", "serving", "--model", "churn", "--port", str(port)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*command, "--poll-seconds", str(POLL_SECONDS)], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(lambda: _healthy(url) or process.poll() is not None, START_DEADLINE_S, f"serving on {url}", 0.3)
        except TimeoutError as exc:
            pytest.fail(f"{exc}; its log ends:\n{log.read_text()[-3000:]}")
        assert process.poll() is None, log.read_text()[-3000:]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _rows(seed: int = 7, n: int = 300) -> pd.DataFrame:
    from demo.churn_data import generate_snapshots

    start = START + timedelta(days=70)
    return generate_snapshots(n, start, start + timedelta(days=7), seed=seed)


def _batch_scores(store: Store, version: str, rows: pd.DataFrame) -> np.ndarray:
    """What the batch scorer (score_<model>'s score_frame) computes for these rows with this version."""
    from include.retraining.score import score_frame

    model = store.tracker().load_model(f"models:/churn/{version}")
    return score_frame(model, rows, store.config)


def _split_payload(rows: pd.DataFrame) -> str:
    return json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False, date_format="iso"))})


def _served_version(url: str) -> str:
    return httpx.get(f"{url}/version", headers=AUTH, timeout=5).json()["version"]


def test_the_server_scores_every_row_as_the_batch_scorer_does(store: Store, server: str) -> None:
    rows = _rows()
    records = json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records", date_format="iso"))})

    answers = [
        httpx.post(f"{server}/invocations", content=body, headers=JSON, timeout=30)
        for body in (_split_payload(rows), records)
    ]

    expected = _batch_scores(store, store.versions[0], rows)
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Model-Version"] == store.versions[0]
        np.testing.assert_array_equal(np.asarray(answer.json()["predictions"]), expected)
    assert rows[["monthly_charges", "payment_method"]].isna().any().all(), "the rows must include nulls"


@dataclass
class _Load:
    """Requests in a loop on another thread: every answer's status and version, every exception."""

    url: str
    body: str
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    answer = client.post(f"{self.url}/invocations", content=self.body, headers=JSON)
                    self.answers.append((answer.status_code, answer.headers.get("X-Model-Version")))
                    self.request_ids.append(answer.headers.get("X-Request-Id", ""))
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))


def _until(predicate, what: str, state) -> None:
    """Wait for a condition; on the deadline, fail naming it and what was seen instead."""
    try:
        wait_until(predicate, SWAP_DEADLINE_S, what, 0.1)
    except TimeoutError:
        pytest.fail(f"{what}: not within {SWAP_DEADLINE_S}s; seen {state()}")


def _changes(served: list[str | None]) -> list[str | None]:
    """The versions requests were answered by, in order, one entry per change."""
    return [version for i, version in enumerate(served) if i == 0 or served[i - 1] != version]


def _logged(pipeline_url: str, request_ids: list[str]) -> pd.DataFrame:
    """The inference log's rows of these requests, in the order they were answered."""
    import sqlalchemy as sa

    engine = sa.create_engine(pipeline_url)
    try:
        with engine.connect() as conn:
            sql = "SELECT * FROM churn_predictions WHERE source = 'rest' AND run_id = ANY(:ids) ORDER BY scored_at, id"
            return pd.read_sql(sa.text(sql), conn, params={"ids": list(request_ids)})
    finally:
        engine.dispose()


def _all_logged(pipeline_url: str, request_ids: list[str], rows_each: int = 1) -> pd.DataFrame:
    """Once every row of these requests is in the inference log (written every 200 ms), those rows."""
    wait_until(
        lambda: len(_logged(pipeline_url, request_ids)) == len(request_ids) * rows_each,
        SWAP_DEADLINE_S,
        f"{len(request_ids) * rows_each} rows in the inference log",
    )
    return _logged(pipeline_url, request_ids)


def test_promotion_and_rollback_reach_the_server_without_a_failed_request(
    store: Store, server: str, pipeline_url: str
) -> None:
    v1, v2 = store.versions
    rows = _rows(seed=8, n=50)
    load = _Load(server, _split_payload(rows))

    def answered() -> list[str | None]:
        return _changes([version for _, version in load.answers])

    loop = threading.Thread(target=load.run)
    loop.start()
    try:
        _until(lambda: answered()[-1:] == [v1], f"a request answered by version {v1}", answered)
        store.registry().promote(v2, {})
        _until(lambda: _served_version(server) == v2, f"version {v2} served after its promotion", answered)
        _until(lambda: answered()[-1:] == [v2], f"a request answered by version {v2}", answered)
        store.registry().client.set_registered_model_alias("churn", "champion", v1)
        _until(lambda: _served_version(server) == v1, f"version {v1} served after the rollback", answered)
        _until(lambda: answered()[-2:] == [v2, v1], f"a request answered by version {v1} again", answered)
    finally:
        load.stop.set()
        loop.join(timeout=60)

    statuses = [status for status, _ in load.answers]
    assert load.failures == [] and set(statuses) == {200}, (load.failures, sorted(set(statuses)))
    # Each answer names one version; they change v1 -> v2 -> v1 and never flap back mid-swap.
    assert answered() == [v1, v2, v1], answered()
    # The inference log shows the same switch: every answer, by the version that gave it.
    logged = _all_logged(pipeline_url, load.request_ids, rows_each=50)
    by_request = logged.groupby("run_id", sort=False)["model_version"].agg(lambda v: sorted(set(v)))
    assert by_request.to_dict() == {rid: [v] for rid, (_, v) in zip(load.request_ids, load.answers, strict=True)}
    assert _changes(logged.drop_duplicates("run_id")["model_version"].tolist()) == [v1, v2, v1]


def test_a_version_that_cannot_load_leaves_the_old_one_serving_and_shows_on_health(
    store: Store, server: str, tmp_path: Path
) -> None:
    registry = store.registry()
    client = registry.client
    current = _served_version(server)
    empty = tmp_path / "no-model"
    empty.mkdir()
    run_id = client.get_model_version("churn", current).run_id
    broken = str(client.create_model_version("churn", empty.as_uri(), run_id=run_id).version)
    rows = _rows(seed=9, n=20)

    client.set_registered_model_alias("churn", "champion", broken)
    try:
        wait_until(
            lambda: httpx.get(f"{server}/health", timeout=5).json().get("failed_version") == broken,
            SWAP_DEADLINE_S,
            "the failed version on /health",
        )
        health = httpx.get(f"{server}/health", timeout=5)
        answer = httpx.post(f"{server}/invocations", content=_split_payload(rows), headers=JSON)
    finally:
        client.set_registered_model_alias("churn", "champion", current)

    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["version"] == current and f"version {broken}" in health.json()["error"]
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == current
    np.testing.assert_array_equal(np.asarray(answer.json()["predictions"]), _batch_scores(store, current, rows))
    wait_until(
        lambda: httpx.get(f"{server}/health", timeout=5).json()["status"] == "ok", SWAP_DEADLINE_S, "health back to ok"
    )


def _features(n: int = 3) -> list[dict]:
    rows = _rows(seed=11, n=40)
    config_columns = ["tenure_months", "monthly_charges", "support_tickets_90d", "contract", "payment_method", "region"]
    complete = rows.dropna(subset=config_columns).head(n)[config_columns]
    return json.loads(complete.to_json(orient="records"))


@pytest.mark.parametrize("value", ["twelve", "N/A", "NaN", "Infinity"])
def test_a_value_not_of_its_columns_type_gets_a_400_naming_column_and_row(server: str, value: str) -> None:
    records = _features()
    records[1]["tenure_months"] = "__VALUE__"
    literal = value if value in ("NaN", "Infinity") else json.dumps(value)
    body = json.dumps({"dataframe_records": records}).replace('"__VALUE__"', literal)

    answer = httpx.post(f"{server}/invocations", content=body, headers=JSON, timeout=30)
    alone_body = '{"dataframe_records": [{"tenure_months": ' + literal + "}]}"
    alone = httpx.post(f"{server}/invocations", content=alone_body, headers=JSON)

    for refused in (answer, alone):
        assert refused.status_code == 400, refused.text
        assert "column 'tenure_months' row" in refused.json()["message"]
        assert refused.json()["request_id"] == refused.headers["X-Request-Id"]
        assert "Traceback" not in refused.text and "stack_trace" not in refused.text
    assert answer.json()["message"].startswith("column 'tenure_months' row 1: ")
    for row in records:  # no value of the request comes back, bad or good
        assert str(row["monthly_charges"]) not in answer.text and row["region"] not in answer.text
    if value not in ("NaN", "Infinity"):
        assert value not in answer.text


def test_the_token_is_required_to_score(server: str) -> None:
    body = json.dumps({"dataframe_records": _features()})

    answers = [
        httpx.post(f"{server}/invocations", content=body, headers=headers, timeout=30)
        for headers in (
            {"Content-Type": "application/json"},
            {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN[:-1]}x"},
            JSON,
        )
    ]

    assert [a.status_code for a in answers] == [401, 401, 200]
    assert httpx.get(f"{server}/health", timeout=5).status_code == 200


def _post_raw(url: str, head: str, chunks: Iterator[bytes]) -> bytes:
    """Send a request's head and then body chunks over a raw socket until the server answers or
    stops reading; what it answered (the status line first)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while the body was still coming: expected
        answer = b""
        try:
            while not answer.endswith(b"}") and (data := sock.recv(65536)):
                answer += data
        except OSError:
            pass
        return answer


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_body_gets_a_413_and_the_server_still_answers(server: str, framing: str) -> None:
    size, piece = 100 * 1024 * 1024, b"x" * (1024 * 1024)
    head = f"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n"
    if framing == "content-length":
        # Declared, with only a prefix sent: the server must answer without waiting for the rest.
        answer = _post_raw(server, head + f"Content-Length: {size}\r\n\r\n", iter([piece]))
    else:
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        answer = _post_raw(server, head + "Transfer-Encoding: chunked\r\n\r\n", (chunk for _ in range(100)))

    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"PAYLOAD_TOO_LARGE" in answer
    after = httpx.post(f"{server}/invocations", content=json.dumps({"dataframe_records": _features()}), headers=JSON)
    assert after.status_code == 200 and len(after.json()["predictions"]) == 3


# The monitored week of the 1,000 answers below: the matured window of a monitor run a week later.
ANSWERED_WEEK = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))


def _source_table(pipeline_url: str, rows: pd.DataFrame) -> None:
    """The source, `customer_snapshots`, beside the predictions: its labels (`churned`) not yet arrived."""
    import sqlalchemy as sa

    engine = sa.create_engine(pipeline_url)
    try:
        rows.assign(churned=pd.array([None] * len(rows), dtype="Int64")).to_sql(
            "customer_snapshots", engine, if_exists="replace", index=False
        )
    finally:
        engine.dispose()


def _answer_one_by_one(server: str, rows: pd.DataFrame, clients: int = 4) -> list[tuple[str, str, float]]:
    """Each row in a request of its own, from `clients` threads: (request id, version, score) per row."""
    records = json.loads(rows.drop(columns=["churned"]).to_json(orient="records", date_format="iso"))
    answers: list[tuple[str, str, float] | None] = [None] * len(records)

    def post(indexes: range) -> None:
        with httpx.Client(timeout=30) as client:
            for i in indexes:
                answer = client.post(f"{server}/invocations", json={"dataframe_records": [records[i]]}, headers=AUTH)
                assert answer.status_code == 200, answer.text
                answers[i] = (
                    answer.headers["X-Request-Id"],
                    answer.headers["X-Model-Version"],
                    answer.json()["predictions"][0],
                )

    threads = [threading.Thread(target=post, args=(range(k, len(records), clients),)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert all(answer is not None for answer in answers)
    return answers  # type: ignore[return-value]


def _monitor_performance(store: Store, pipeline_url: str, version: str, folder: Path):
    """The monitor's performance step for the week after ANSWERED_WEEK, whose matured window is
    ANSWERED_WEEK: source and predictions both in the pipeline database, as compose keeps them."""
    from include.retraining.common import Window
    from include.retraining.monitor import CurrentWindow, Reference, performance
    from include.retraining.monitor.served import served_windows
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Database, Warehouse

    week = timedelta(days=7)
    matured = Window(*ANSWERED_WEEK)
    window = Window(matured.start + week, matured.end + week)
    ctx = StepContext.create(
        store.config,
        store.settings,
        RunInfo("monitor_churn", "test", window.end),
        Warehouse(pipeline_url),
        Database(pipeline_url),
    )
    ref = Reference(version, "", "", 0.8, list(store.config.features.columns))
    cur = CurrentWindow(window, matured, "", "", 0, 0, 0, 0, **served_windows(ctx, window, matured, folder))
    return performance(ctx, ref, cur)


def test_1000_answers_are_logged_with_their_versions_and_judged_once_their_labels_arrive(
    store: Store, server: str, pipeline_url: str, tmp_path: Path
) -> None:
    from sklearn.metrics import roc_auc_score

    from demo.churn_data import generate_snapshots

    rows = generate_snapshots(1000, *ANSWERED_WEEK, seed=21)
    _source_table(pipeline_url, rows)

    answers = _answer_one_by_one(server, rows)
    logged = _all_logged(pipeline_url, [request_id for request_id, _, _ in answers])

    assert len(logged) == 1000 and logged["run_id"].is_unique and set(logged["source"]) == {"rest"}
    by_request = logged.set_index("run_id")
    for (request_id, version, score), customer in zip(answers, rows["customer_id"], strict=True):
        assert by_request.loc[request_id, "model_version"] == version and by_request.loc[request_id, "id"] == customer
        assert by_request.loc[request_id, "score"] == pytest.approx(score)
    versions = sorted({version for _, version, _ in answers})
    assert len(versions) == 1, versions  # nothing moves the alias during this test
    version = versions[0]

    before = _monitor_performance(store, pipeline_url, version, tmp_path / "before")
    labels_arrive(pipeline_url, rows)
    after = _monitor_performance(store, pipeline_url, version, tmp_path / "after")

    assert before.source == after.source == "served" and before.rows_served == after.rows_served == 1000
    assert before.coverage == 0.0 and before.current_value is None
    assert after.coverage == 1.0 and after.rows == 1000
    expected = roc_auc_score(rows["churned"], [score for _, _, score in answers])
    assert after.current_value == pytest.approx(expected)
    assert [(f.version, f.rows, f.labelled) for f in after.versions] == [(version, 1000, 1000)]
