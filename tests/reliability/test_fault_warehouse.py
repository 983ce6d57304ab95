"""The warehouse connection cut in the middle of reading the window: the extract fails and
alerts once, nothing half-read is kept, and the rerun reads the whole window."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import model_aliases, recorded_alerts

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
