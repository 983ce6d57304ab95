"""The warehouse connection cut in the middle of reading the window: the extract fails and
alerts once, nothing half-read is kept, and the rerun reads the whole window. A warehouse down only
for the first try is retried by Airflow itself, and the run succeeds without an alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import model_aliases, recorded_alerts, run_dag_marked, task_state, when

pytestmark = pytest.mark.reliability


def _snapshots(world: World) -> set[str]:
    # Snapshots only: validate also caches the champion's reference sample under reference/.
    return {p.name for p in (world.artifact_root / "churn" / "snapshots").rglob("*.parquet")}


def test_warehouse_cut_mid_read_fails_the_extract_with_one_alert(
    world: World, tcp_proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(world.warehouse_url)
    proxy = tcp_proxy(url.host, url.port or 5432)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url.set(port=proxy.port).render_as_string(hide_password=False))
    before = _snapshots(world)
    # Catalog lookups are a few kB; only the window itself streams this much on one connection.
    proxy.cut_when(server_bytes=50_000, then="refuse")

    states = run_dag("retrain_churn", NEXT_RUN)

    assert proxy.cuts == 1, "the cut never fired: the fault was not injected"
    assert states["extract"] == "failed" and states["promote"] == "upstream_failed"
    assert model_aliases() == {"champion": "1"}
    assert _snapshots(world) == before, "no snapshot from a half-read window"
    assert not list(world.artifact_root.rglob("*.tmp"))
    (alert,) = recorded_alerts()
    assert alert["kind"] == "task_failed" and "extract" in alert["title"]

    proxy.set_mode("pass")
    again = run_dag("retrain_churn", NEXT_RUN)

    assert again["promote"] in ("success", "skipped") and "failed" not in again.values()
    assert len(_snapshots(world)) == len(before) + 1
    assert [a["kind"] for a in recorded_alerts()].count("task_failed") == 1


def _extract_tries(run_id: str) -> list[tuple[int, str]]:
    """Each try of the run's extract, oldest first: (try number, state), from Airflow's own record
    (task_instance_history keeps every try before the last)."""
    from airflow.models import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    with create_session() as session:
        keys = {"dag_id": "retrain_churn", "task_id": "extract", "run_id": run_id}
        earlier = session.query(TaskInstanceHistory).filter_by(**keys).order_by(TaskInstanceHistory.try_number)
        (last,) = session.query(TaskInstance).filter_by(**keys)
        return [(t.try_number, str(t.state)) for t in earlier] + [(last.try_number, str(last.state))]


def test_a_warehouse_down_on_the_first_try_is_retried_by_airflow_and_the_run_succeeds(
    world: World, tcp_proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's own retry path, with one retry after 2 s (production waits 30 s, a setting whose
    default test_dag_integrity checks): the warehouse refuses every connection until the first try of extract is up
    for retry, then answers again; the second try reads the window and the run goes on."""
    url = make_url(world.warehouse_url)
    proxy = tcp_proxy(url.host, url.port or 5432)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url.set(port=proxy.port).render_as_string(hide_password=False))
    monkeypatch.setenv("RETRAINING_TASK_RETRIES", "1")  # every other test runs with none
    monkeypatch.setenv("RETRAINING_TASK_RETRY_DELAY_SECONDS", "2")
    proxy.set_mode("refuse")
    started = datetime.now(UTC)
    back = when(
        lambda: task_state("retrain_churn", "extract", started_after=started) == "up_for_retry",
        lambda: proxy.set_mode("pass"),
        timeout_s=900,  # pytest-timeout's limit per test: watch for as long as the test may run
    )

    run_id, states = run_dag_marked("retrain_churn", NEXT_RUN)

    back.join(timeout=5)
    assert proxy.mode == "pass", "the first try never went up for retry: the fault was not retried"
    assert proxy.accepted >= 1, "no connection was refused: the fault was not injected"
    # Airflow keeps a retried try in its history as failed; the task instance is the second try.
    assert _extract_tries(run_id) == [(1, "failed"), (2, "success")]
    assert "failed" not in states.values() and states["promote"] in ("success", "skipped"), states
    assert _dag_run_state(run_id) == "success"
    assert recorded_alerts("task_failed") == [], "a failure Airflow retried away alerts nobody"


def _dag_run_state(run_id: str) -> str:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        (run,) = session.query(DagRun).filter_by(dag_id="retrain_churn", run_id=run_id)
        return str(run.state)
