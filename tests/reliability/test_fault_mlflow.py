"""The MLflow tracking server's connection cut in the middle of a retrain: a registry error is never
read as "no champion", so nothing is promoted over the real champion; the task fails with one
alert, and the rerun after the server is back completes (review H2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from tests.reliability.world import CHAMPION_AT, NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import MlflowServer, TcpProxy, model_aliases, recorded_alerts, task_state, when

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def served_world(
    tmp_path_factory: pytest.TempPathFactory, tracking_server: MlflowServer, warehouse_db: str, airflow_db: None
) -> Iterator[tuple[World, TcpProxy]]:
    """A champion registered through a proxy in front of a real MLflow server."""
    target = urlsplit(tracking_server.url)
    root = tmp_path_factory.mktemp("served-world")
    world = World(root / "data", root / "models", warehouse_db)
    world.models_dir.mkdir()
    world.write_model()
    with TcpProxy(target.hostname, target.port) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv("RETRAINING_DATA_DIR", str(world.data_dir))
        env.setenv("RETRAINING_MODELS_DIR", str(world.models_dir))
        env.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse_db)
        env.setenv("MLFLOW_TRACKING_URI", proxy.url_for(tracking_server.url))
        # Fail fast: the task's own retries are the retry policy, not minutes inside one call.
        env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        env.delenv("AIRFLOW_CONN_SLACK_ALERTS", raising=False)
        states = run_dag("retrain_churn", CHAMPION_AT)
        assert states["promote"] == "success", states
        yield world, proxy


def test_mlflow_cut_during_evaluate_promotes_nothing_and_alerts_once(served_world) -> None:
    world, proxy = served_world
    assert model_aliases() == {"champion": "1"}
    started = datetime.now(UTC)
    # Once this run has trained, the next registry request (evaluate asking for the champion)
    # has its connection reset; everything after it goes through again. A blip, not an outage:
    # the moment an error is most easily mistaken for "there is no champion".
    when(
        lambda: task_state("retrain_churn", "train", started_after=started) == "success",
        lambda: proxy.cut_when(client_sends=b"/registered-models/", then="pass"),
    )

    states = run_dag("retrain_churn", NEXT_RUN)

    assert proxy.cuts == 1, "the cut never fired: the fault was not injected"
    assert states["train"] == "success" and states["evaluate"] == "failed", states
    assert states["promote"] == "upstream_failed"
    assert model_aliases() == {"champion": "1"}, "an unreachable registry was read as 'no champion'"
    (alert,) = recorded_alerts()
    assert alert["kind"] == "task_failed" and "evaluate" in alert["title"]

    again = run_dag("retrain_churn", NEXT_RUN)

    # The window after the champion's gives an equally good challenger (as in test_fault_slack),
    # which the paired gate blocks: it is judged against the real champion, version 1.
    assert "failed" not in again.values() and again["promote"] == "skipped", again
    assert model_aliases() == {"champion": "1", "challenger": "2"}
    assert _compared_with("2") == "1"


def _compared_with(version: str) -> str:
    import os

    from mlflow.tracking import MlflowClient

    from include.retraining.tracking import COMPARED_WITH_TAG

    uri = os.environ["MLFLOW_TRACKING_URI"]
    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version("churn", version).tags
    return str(tags.get(COMPARED_WITH_TAG))
