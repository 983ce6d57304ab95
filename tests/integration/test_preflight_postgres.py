"""`python -m retraining check` against a real PostgreSQL source, through an Airflow connection
as the runs use it: the index the window reads need, and the rights of a read-only role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from demo.churn_data import TABLE, generate_snapshots, load_window
from tests.support import PG_ADMIN_URL, REPO, postgres_databases, select_only_role, service_unavailable

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
END = START + timedelta(weeks=8)


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    name = f"preflight_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means it is not there
        service_unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    for week in range(8):
        begin = START + timedelta(weeks=week)
        frame = generate_snapshots(300, begin, begin + timedelta(weeks=1), seed=3)
        load_window(url, TABLE, frame, begin, begin + timedelta(weeks=1))
    yield url
    postgres_databases(name, drop=True)


def _check(connection: dict, tmp_path: Path) -> tuple[int, dict[str, dict]]:
    env = {
        **os.environ,
        "AIRFLOW_CONN_WAREHOUSE": json.dumps(connection),
        "RETRAINING_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-m", "retraining", "check", "--json", "--window-end", END.isoformat()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.startswith("["), result.stdout + result.stderr
    return result.returncode, {f["check"]: f for f in json.loads(result.stdout) if f["subject"] == "churn"}


def _check_here(
    connection: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline_db: str | None = None
) -> tuple[int, dict[str, dict]]:
    """`_check`'s findings from `check()` in this process (the CLI around it is `_check`'s test):
    a subprocess costs seconds of imports per call."""
    from include.retraining.preflight import Status, render_json
    from retraining.__main__ import check

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(connection))
    monkeypatch.setenv("RETRAINING_DATA_DIR", str(tmp_path / "data"))
    if pipeline_db:
        monkeypatch.setenv("AIRFLOW_CONN_RETRAINING_DB", pipeline_db)
    findings = check([], offline=False, window_end=END)
    status = 1 if any(f.status is Status.PROBLEM for f in findings) else 0
    return status, {f["check"]: f for f in json.loads(render_json(findings)) if f["subject"] == "churn"}


def _connection(url: str, login: str | None = None) -> dict:
    parsed = make_url(url)
    return {
        "conn_type": "postgres",
        "login": login or parsed.username,
        "host": parsed.host,
        "port": parsed.port or 5432,
        "schema": parsed.database,
    }


def test_the_index_the_window_reads_need_is_named_and_its_statement_works(source: str, tmp_path: Path) -> None:
    status, found = _check(_connection(source), tmp_path)

    assert status == 0, found
    assert found["rows"]["status"] == "ok" and "holds 1,500 rows" in found["rows"]["message"]
    assert found["rights"]["status"] == "ok"
    index = found["index"]
    assert index["status"] == "warning" and "every window read scans the whole table" in index["message"]
    engine = sa.create_engine(source, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(index["message"].split("create one: ", 1)[1]))
    engine.dispose()

    assert _check(_connection(source), tmp_path)[1]["index"]["status"] == "ok"


@pytest.fixture
def reader(source: str) -> Iterator[str]:
    with select_only_role(source, TABLE) as role:
        yield role


def test_a_role_that_may_only_read_is_told_the_grant_the_pipelines_tables_need(
    source: str, reader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, found = _check_here(_connection(source, login=reader), tmp_path, monkeypatch)

    assert status == 1
    assert [found[c]["status"] for c in ("source", "timestamps", "rows")] == ["ok"] * 3
    rights = found["rights"]
    assert rights["status"] == "problem" and f"role {reader} can read the source" in rights["message"]
    assert "define retraining_db" in rights["message"]
    assert f"GRANT CREATE ON SCHEMA public TO {reader}" in rights["message"]


def test_a_read_only_source_is_fine_with_the_pipelines_tables_in_retraining_db(
    source: str, reader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = f"sqlite:///{tmp_path / 'pipeline.db'}"

    status, found = _check_here(_connection(source, login=reader), tmp_path, monkeypatch, pipeline_db=pipeline)

    assert status == 0, found
    rights = found["rights"]
    assert rights["status"] == "ok" and f"role {reader} may only read the source, all it needs" in rights["message"]
    assert found["pipeline"]["status"] == "ok" and pipeline in found["pipeline"]["message"]
