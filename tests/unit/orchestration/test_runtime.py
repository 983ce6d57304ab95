"""What a task takes from Airflow at run time, without a DAG run: the warehouse behind a
connection (its password registered with Airflow's log masker), the run's identity and window
end, and the step context built from them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include.orchestration.runtime import pipeline_database, run_info, source_warehouse, step_context, warehouse_url
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.runs import RunInfo
from tests.support import REPO

pytestmark = pytest.mark.unit

CONFIG = load_model_config(REPO / "include" / "models" / "churn.yaml")
END = datetime(2026, 3, 16, 3, tzinfo=UTC)


def _redacted(line: str) -> str:
    # The process-wide masker that `mask_secret` feeds: private, and it moved in Airflow 3.3.
    try:
        from airflow.sdk.log import _secrets_masker
    except ImportError:
        from airflow.sdk._shared.secrets_masker import _secrets_masker

    return str(_secrets_masker().redact(line))


def _password() -> str:
    """A password no other test registered with the process-wide masker."""
    return f"pw-{uuid.uuid4().hex[:12]}"


def test_a_url_connection_password_is_redacted_from_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    password = _password()
    url = f"postgresql+psycopg2://etl:{password}@db:5432/mart"
    monkeypatch.setenv("AIRFLOW_CONN_WH_URL", url)
    assert password in _redacted(url), "the masker knew the password before the lookup"

    warehouse = source_warehouse("wh_url", load_settings())

    assert warehouse.password == password and warehouse.display == "postgresql+psycopg2://etl:***@db:5432/mart"
    assert password not in _redacted(f"could not connect to {url}")


def test_a_ui_connection_becomes_a_postgres_warehouse_with_its_password_masked(monkeypatch) -> None:
    password = _password()
    fields = {"conn_type": "postgres", "login": "etl", "password": password, "host": "db", "schema": "mart"}
    monkeypatch.setenv("AIRFLOW_CONN_WH_UI", json.dumps(fields))

    warehouse = source_warehouse("wh_ui", load_settings())

    assert warehouse.display == "postgresql+psycopg2://etl:***@db:5432/mart" and warehouse.password == password
    assert password not in _redacted(f"could not connect to {warehouse_url('wh_ui', load_settings())}")


@pytest.mark.parametrize(
    "connection",
    [
        {
            "conn_type": "postgres",
            "login": "etl",
            "password": "p@ss:w/rd#1",
            "host": "db",
            "port": 6432,
            "schema": "mart",
            "extra": {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem", "cursor": "dictcursor"},
        },
        # Airflow's URI form, as `airflow connections get` prints it: the password percent-encoded.
        "postgres://etl:p%40ss%3Aw%2Frd%231@db:6432/mart?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca.pem",
    ],
    ids=["json", "airflow-uri"],
)
def test_a_password_with_url_characters_and_the_tls_extras_reach_the_warehouse_intact(
    monkeypatch: pytest.MonkeyPatch, connection
) -> None:
    """On main the password was pasted into the URL unescaped: `@`, `:`, `/` and `#` moved the host
    or cut the URL, and `sslmode` was dropped, so a TLS-only warehouse refused the connection."""
    from sqlalchemy.engine import make_url

    raw = connection if isinstance(connection, str) else json.dumps(connection)
    monkeypatch.setenv("AIRFLOW_CONN_WH_TLS", raw)

    url = make_url(warehouse_url("wh_tls", load_settings()))

    assert (url.username, url.password, url.host, url.port, url.database) == ("etl", "p@ss:w/rd#1", "db", 6432, "mart")
    # SQLAlchemy 2 has no `postgres` dialect: Airflow's URI scheme taken verbatim failed at connect.
    assert url.drivername == "postgresql+psycopg2"
    assert dict(url.query) == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem"}
    warehouse = source_warehouse("wh_tls", load_settings())
    assert warehouse.password == "p@ss:w/rd#1"
    assert "sslmode=verify-full" in warehouse.libpq_uri(timeout_s=5), "the bulk reader must keep TLS too"


def test_an_sqlalchemy_url_in_the_extra_is_used_verbatim_and_an_unknown_type_is_refused(monkeypatch) -> None:
    extra = {"sqlalchemy_url": "snowflake://etl@acct/db/schema?warehouse=wh"}
    monkeypatch.setenv("AIRFLOW_CONN_WH_EXTRA", json.dumps({"conn_type": "generic", "extra": extra}))
    monkeypatch.setenv("AIRFLOW_CONN_WH_ODD", json.dumps({"conn_type": "mysql", "host": "db"}))

    assert warehouse_url("wh_extra", load_settings()) == extra["sqlalchemy_url"]
    with pytest.raises(ValueError, match="set extra sqlalchemy_url"):
        source_warehouse("wh_odd", load_settings())


def test_only_the_default_connection_falls_back_to_the_embedded_warehouse() -> None:
    from airflow.sdk.exceptions import AirflowNotFoundException

    settings = load_settings()

    assert warehouse_url("warehouse", settings) == settings.warehouse_default_url
    with pytest.raises(AirflowNotFoundException):
        source_warehouse("no_such_warehouse", settings)


def test_the_step_context_reads_the_models_connection_only_when_asked(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONFIG.source.conn_id.upper()}", f"sqlite:///{tmp_path / 'wh.db'}")
    run = RunInfo("retrain_churn", "manual__1", END)

    without, with_warehouse = step_context(CONFIG, run=run), step_context(CONFIG, warehouse=True, run=run)

    assert without.warehouse is None and without.pipeline_db is None and without.run is run
    assert with_warehouse.warehouse.display == f"sqlite:///{tmp_path / 'wh.db'}"
    assert with_warehouse.pipeline_db is with_warehouse.warehouse and with_warehouse.config is CONFIG


def test_the_pipeline_tables_go_to_retraining_db_when_it_is_defined(monkeypatch, tmp_path: Path) -> None:
    password = _password()
    pipeline = {
        "conn_type": "postgres",
        "host": "db",
        "login": "pipeline",
        "password": password,
        "schema": "retraining",
    }
    monkeypatch.setenv("AIRFLOW_CONN_RETRAINING_DB", json.dumps(pipeline))
    settings = load_settings()

    found = pipeline_database(source_warehouse("warehouse", settings), settings)

    assert found.display == "postgresql+psycopg2://pipeline:***@db:5432/retraining"
    assert password not in _redacted(f"connecting with {password}")


def test_a_task_s_context_holds_retraining_db_upgraded_to_this_release(monkeypatch, tmp_path: Path) -> None:
    from include.retraining.tables import schema_head, schema_revision

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"sqlite:///{tmp_path / 'wh.db'}")
    monkeypatch.setenv("AIRFLOW_CONN_RETRAINING_DB", f"sqlite:///{tmp_path / 'pipeline.db'}")

    ctx = step_context(CONFIG, warehouse=True, run=RunInfo("monitor_churn", "manual__1", END))

    assert ctx.warehouse.display == f"sqlite:///{tmp_path / 'wh.db'}"
    assert ctx.pipeline_db.display == f"sqlite:///{tmp_path / 'pipeline.db'}"
    assert schema_revision(ctx.pipeline_db) == schema_head()


def test_beside_the_embedded_warehouse_the_pipeline_tables_have_their_own_file() -> None:
    settings = load_settings()

    pipeline = pipeline_database(source_warehouse("warehouse", settings), settings)

    assert pipeline.display == settings.pipeline_default_url != settings.warehouse_default_url


def test_an_embedded_warehouse_holding_the_pipeline_history_keeps_it(tmp_path: Path) -> None:
    """A laptop setup from before `.data/pipeline.db`: its promotion log stays where it is."""
    import sqlite3

    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})
    with sqlite3.connect(tmp_path / "warehouse.db") as db:
        db.execute("CREATE TABLE model_promotions (model TEXT)")
    source = source_warehouse("warehouse", settings)

    assert pipeline_database(source, settings) is source
    with sqlite3.connect(tmp_path / "pipeline.db") as db:  # once the new file holds the history, it wins
        db.execute("CREATE TABLE model_monitoring (model TEXT)")
    assert pipeline_database(source, settings).display == settings.pipeline_default_url


def test_without_retraining_db_another_source_holds_the_pipeline_tables_with_a_warning(
    monkeypatch, tmp_path: Path, caplog
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"sqlite:///{tmp_path / 'wh.db'}")
    settings = load_settings()
    source = source_warehouse("warehouse", settings)

    assert pipeline_database(source, settings) is source
    assert "define the connection 'retraining_db' to keep the source read-only" in caplog.text


def test_a_duckdb_source_without_retraining_db_is_refused_with_the_connection_to_define(
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"duckdb:///{tmp_path / 'wh.duckdb'}")
    settings = load_settings()

    with pytest.raises(ValueError, match=r"DuckDB source .* define the Airflow connection 'retraining_db'"):
        pipeline_database(source_warehouse("warehouse", settings), settings)


def _context(params=None, drift=None, interval_end=None, run_type="scheduled", user=None) -> dict:
    run = SimpleNamespace(
        dag_id="retrain_churn",
        run_id="r1",
        run_after=END + timedelta(hours=1),
        run_type=run_type,
        triggering_user_name=user,
    )
    events = {"churn_drift": [SimpleNamespace(timestamp=END, extra=drift)]} if drift else {}
    return {
        "params": params or {},
        "dag_run": run,
        "triggering_asset_events": events,
        "data_interval_end": interval_end,
    }


@pytest.mark.parametrize(
    ("context", "window_end"),
    [
        (_context({"window_end": "2026-03-01T00:00:00Z"}, {"window_end": "2026-03-09T03:00:00+00:00"}, END), "03-01"),
        (_context(drift={"window_end": "2026-03-09T03:00:00+00:00", "reason": "psi"}, interval_end=END), "03-09"),
        (_context(interval_end=END - timedelta(days=2)), "03-14"),
        (_context(), "03-16"),
    ],
    ids=["param", "drift event", "data interval", "run after"],
)
def test_the_window_end_is_the_param_then_the_drift_event_then_the_interval_then_the_trigger(
    context: dict, window_end: str
) -> None:
    run = run_info(context, CONFIG)

    assert run.window_end.strftime("%m-%d") == window_end and run.window_end.tzinfo is not None


def test_a_drift_triggered_manual_run_names_the_drift_and_its_user() -> None:
    run = run_info(_context(drift={"reason": "psi 0.3"}, run_type="manual", user="ana"), CONFIG)

    assert run.trigger == "drift: psi 0.3" and run.actor == "ana"
    assert run_info(_context(user="ana"), CONFIG).actor == "scheduler"  # only a manual run has a person


def test_a_window_end_after_the_trigger_is_refused() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="no matured labels"):
        run_info(_context({"window_end": (END + timedelta(days=1)).isoformat()}), CONFIG)


@pytest.mark.parametrize(
    ("window_end", "says"),
    [
        ((END + timedelta(days=400)).isoformat(), "is after this run was triggered"),
        ((END + timedelta(hours=2)).isoformat(), "is after this run was triggered"),  # run_after + 1 h
        ("next tuesday", "is not a time (ISO 8601 expected)"),
    ],
    ids=["far future", "just after the trigger", "not a time"],
)
def test_a_drift_event_whose_window_has_not_ended_fails_the_run_with_the_fix(window_end: str, says: str) -> None:
    """Anyone with the REST API can post the event; its window_end is checked as the param is."""
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as raised:
        run_info(_context(drift={"window_end": window_end, "reason": "posted by hand"}), CONFIG)

    message = str(raised.value)
    assert "model 'churn': the drift event's window_end" in message and says in message
    assert "post the event again with a past window_end" in message


def test_a_drift_event_for_an_old_window_retrains_that_window() -> None:
    """Not refused: a past window is what the param allows too; one without rows stops at extract."""
    run = run_info(_context(drift={"window_end": "2019-03-04T03:00:00+00:00", "reason": "psi"}), CONFIG)

    assert run.window_end.year == 2019
