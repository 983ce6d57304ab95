"""The source on MariaDB and on DuckDB: real DAG runs retrain (on a `training.sample_rows` sample,
validated on every row by the warehouse's aggregates), score and monitor end to end, the pipeline's
own tables in `retraining_db` (a second MariaDB database; SQLite beside DuckDB); then the warehouse itself on each: exact UTC windows over
zoned timestamp columns, the id-hash sample and the served predictions that follow it from
another database, read-only sessions and the refusals that name the fix.
PostgreSQL's own tests: test_readonly_source.py, test_warehouse_postgres.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from demo.churn_data import TABLE
from include.retraining.config import ModelConfig, SourceConfig, load_model_config
from include.retraining.predictions import read_served
from include.retraining.preflight import Status, source_findings
from include.retraining.tables import history, read_monitoring
from include.retraining.warehouse import Database, Warehouse, WarehouseError, python_hash, sample_threshold
from tests.support import MYSQL_ADMIN_URL, REPO, UTC, load_weeks, mysql_databases, run_dag, service_unavailable
from tests.support_served import read_predictions

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, tzinfo=UTC)  # eight weekly partitions from here
TRAINED_AT = datetime(2026, 3, 16, tzinfo=UTC)  # a Monday: the weekly scoring fire scores (Mar 9, Mar 16]
MONITORED_AT = TRAINED_AT + timedelta(weeks=1)  # its matured window is the week that was scored
SAMPLE_ROWS = 3000  # of the training window's 4,500 rows (Feb 2, Mar 9]
COLUMNS = ["customer_id", "snapshot_at", "churned", "tenure_months", "contract"]


def _tables(db: Database) -> set[str]:
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _databases(backend: str, root: Path) -> Iterator[tuple[str, str]]:
    """The source and the pipeline's database (`retraining_db`): a DuckDB file beside a SQLite
    file, or two databases on the MariaDB server, so the pipeline's tables are proven there too."""
    if backend == "duckdb":
        yield f"duckdb:///{root / 'warehouse.duckdb'}", f"sqlite:///{root / 'pipeline.db'}"
        return
    names = [f"retraining_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("src", "pipe")]
    try:
        mysql_databases(*names)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no MariaDB here
        service_unavailable(f"MariaDB at {MYSQL_ADMIN_URL}: {exc}")
    try:
        yield tuple(make_url(MYSQL_ADMIN_URL).set(database=n).render_as_string(hide_password=False) for n in names)
    finally:
        mysql_databases(*names, drop=True)


@pytest.fixture(scope="module", params=["mariadb", "duckdb"])
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp(request.param)
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["training"].update(estimator="logistic_regression", params={}, sample_rows=SAMPLE_ROWS)
    config["scoring"]["schedule"] = "0 0 * * 1"  # weekly: one run scores the whole matured week
    config["monitor"]["min_rows"] = 50
    (root / "models").mkdir()
    (root / "models" / "churn.yaml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as env:
        for url, pipeline_url in _databases(request.param, root):
            env.setenv("RETRAINING_DATA_DIR", str(root / "data"))
            env.setenv("RETRAINING_MODELS_DIR", str(root / "models"))
            env.delenv("MLFLOW_TRACKING_URI", raising=False)
            env.setenv("AIRFLOW_CONN_WAREHOUSE", url)
            env.setenv("AIRFLOW_CONN_RETRAINING_DB", pipeline_url)
            load_weeks(START, weeks=8)
            states = {
                "retrain": run_dag("retrain_churn", TRAINED_AT),
                "score": run_dag("score_churn", TRAINED_AT),
                "monitor": run_dag("monitor_churn", MONITORED_AT),
            }
            warehouse = Warehouse(url)
            yield {
                "backend": request.param,
                "states": states,
                "warehouse": warehouse,
                "source_tables": _tables(warehouse),
                "pipeline": pipeline_url,
                "config": load_model_config(root / "models" / "churn.yaml"),
            }


def test_retrain_score_and_monitor_succeed_and_write_nothing_to_the_source(runs: dict) -> None:
    states = runs["states"]

    assert states["retrain"]["promote"] == "success", states["retrain"]
    assert set(states["score"].values()) == {"success"}, states["score"]
    assert "failed" not in states["monitor"].values() and "upstream_failed" not in states["monitor"].values()
    assert runs["source_tables"] == {TABLE}
    assert {"model_promotions", "model_monitoring", "churn_predictions"} <= _tables(Database(runs["pipeline"]))


def test_the_monitor_judges_the_served_predictions_on_the_labels_in_the_source(runs: dict) -> None:
    pipeline = Database(runs["pipeline"])
    served = read_predictions(runs["pipeline"], "churn_predictions", "churn")
    (row,) = read_monitoring(pipeline, "churn").to_dict("records")
    (promotion,) = history(pipeline, "churn")

    assert len(served) == 900 and set(served["model_version"]) == {"1"}  # the week (Mar 9, Mar 16]
    assert promotion.to_version == "1"
    assert row["performance_source"] == "served" and row["rows_served"] == len(served)
    assert row["label_coverage"] == 1.0 and 0.5 < row["metric_current"] <= 1.0


def test_a_window_holds_the_row_at_its_end_and_not_the_one_at_its_start(runs: dict) -> None:
    warehouse, config = runs["warehouse"], runs["config"]
    week = warehouse.read_window(config.source, COLUMNS, START, START + timedelta(weeks=1), model="churn")
    at = week["snapshot_at"].iloc[-1].to_pydatetime().replace(tzinfo=UTC)  # a row's exact time

    ending = warehouse.read_window(config.source, COLUMNS, at - timedelta(days=1), at, model="churn")
    starting = warehouse.read_window(config.source, COLUMNS, at, at + timedelta(days=1), model="churn")

    assert ending["snapshot_at"].iloc[-1] == week["snapshot_at"].iloc[-1]
    assert at.replace(tzinfo=None) not in set(starting["snapshot_at"].dt.to_pydatetime())
    assert warehouse.window_rows(config, at - timedelta(days=1), at) == len(ending)
    assert len(week) == 900 and week["snapshot_at"].dt.tz is None


def test_the_training_sample_is_the_same_for_the_same_window_and_about_its_size(runs: dict) -> None:
    warehouse, config = runs["warehouse"], runs["config"]
    end = TRAINED_AT - timedelta(weeks=1)

    first, rows = warehouse.read_window_sample(config, COLUMNS, START, end)
    again, _ = warehouse.read_window_sample(config, COLUMNS, START, end)
    whole = warehouse.read_window(config.source, COLUMNS, START, end, model="churn")

    assert rows == len(whole) == 4500
    assert first["customer_id"].tolist() == again["customer_id"].tolist()
    assert abs(len(first) - SAMPLE_ROWS) < 0.1 * SAMPLE_ROWS
    hashed = python_hash(warehouse.backend)
    below = sample_threshold(rows, SAMPLE_ROWS)
    assert set(first["customer_id"]) == {i for i in whole["customer_id"] if hashed(i) < below}


def test_the_served_rows_in_the_pipeline_database_follow_the_ids_the_source_sampled(runs: dict) -> None:
    warehouse, config = runs["warehouse"], runs["config"]
    scored_start, scored_end = TRAINED_AT - timedelta(weeks=1), TRAINED_AT
    rows = warehouse.window_rows(config, scored_start, scored_end)
    below = sample_threshold(rows, 400)

    sampled = warehouse.read_monitor_window(config, COLUMNS, scored_start, scored_end, max_rows=400)
    served = read_served(
        Database(runs["pipeline"]), config, scored_start, scored_end, below=below, hashed_by=warehouse.backend
    )

    assert sampled.sampled and sampled.threshold == below and 300 < len(sampled.frame) < 500
    assert set(served["id"]) == set(sampled.frame["customer_id"])


def _execute(warehouse: Warehouse, *statements: str) -> None:
    """Statements in one transaction of a session of the test's own, not the pipeline's."""
    engine = sa.create_engine(make_url(warehouse._url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()  # DuckDB: a file open read-write in this process refuses the pipeline's read-only opens


@pytest.fixture
def stamps(runs: dict) -> Iterator[tuple[Warehouse, ModelConfig]]:
    """A table whose times are zoned (MariaDB TIMESTAMP, DuckDB TIMESTAMPTZ), written by a session
    five hours east of UTC: 05:00 there is midnight UTC."""
    warehouse, backend = runs["warehouse"], runs["backend"]
    kind = "TIMESTAMP" if backend == "mariadb" else "TIMESTAMPTZ"
    zone = "SET time_zone = '+05:00'" if backend == "mariadb" else "SET TimeZone = 'Asia/Karachi'"
    local = ("2026-03-16 04:59:59", "2026-03-16 05:00:00", "2026-03-16 05:00:01")
    _execute(
        warehouse,
        zone,
        f"CREATE TABLE stamps (id INT, stamped_at {kind} NULL, price DECIMAL(8, 2), churned INT)",
        *(f"INSERT INTO stamps VALUES ({i}, '{at}', 21.50, {i % 2})" for i, at in enumerate(local)),
    )
    source = SourceConfig(table="stamps", timestamp_column="stamped_at", id_column="id")
    yield warehouse, runs["config"].model_copy(update={"source": source})
    _execute(warehouse, "DROP TABLE stamps")


def test_a_zoned_timestamp_column_is_read_in_utc_with_exact_bounds(stamps: tuple[Warehouse, ModelConfig]) -> None:
    warehouse, config = stamps
    midnight = datetime(2026, 3, 16, tzinfo=UTC)

    up_to = warehouse.read_window(
        config.source, ["id", "stamped_at", "price"], midnight - timedelta(hours=1), midnight, model="t"
    )
    after = warehouse.read_window(
        config.source, ["id", "stamped_at", "price"], midnight, midnight + timedelta(hours=1), model="t"
    )

    assert up_to["id"].tolist() == [0, 1] and after["id"].tolist() == [2]
    assert up_to["stamped_at"].iloc[-1] == midnight.replace(tzinfo=None) and up_to["stamped_at"].dt.tz is None
    assert up_to["price"].dtype == "float64" and up_to["price"].iloc[0] == 21.5  # DECIMAL made plain
    assert warehouse.check_timestamps(config).rows == 3


def test_a_text_timestamp_column_is_refused_with_the_cast_that_fixes_it(runs: dict) -> None:
    warehouse, config = runs["warehouse"], runs["config"]
    text = "CHAR" if runs["backend"] == "mariadb" else "VARCHAR"
    source = SourceConfig(
        query=f"SELECT customer_id, CAST(snapshot_at AS {text}) AS snapshot_at FROM {TABLE}",
        timestamp_column="snapshot_at",
    )

    with pytest.raises(
        WarehouseError, match=r"model 'churn': source.timestamp_column 'snapshot_at' .* not a timestamp"
    ):
        warehouse.check_timestamps(config.model_copy(update={"source": source}))


def test_the_source_is_read_in_read_only_sessions(runs: dict) -> None:
    warehouse = runs["warehouse"]

    with (
        pytest.raises(sa.exc.DBAPIError, match="(?i)read.only"),
        warehouse.engine(read_only=True) as engine,
        engine.begin() as conn,
    ):
        conn.execute(sa.text("CREATE TABLE written (x INT)"))

    assert "written" not in _tables(warehouse)


def test_a_mariadb_read_past_the_statement_timeout_is_named_with_the_key(tmp_path: Path) -> None:
    """MariaDB's max_statement_time; DuckDB has no statement timeout (docs/operations.md)."""
    # A scan of a billion generated rows, with a '%' that must reach the server as SQL.
    at = "TIMESTAMP '2026-03-01 00:00:00' + INTERVAL (s.seq % 1000) SECOND"
    slow = f"SELECT s.seq AS n, {at} AS at FROM seq_1_to_1000000000 AS s WHERE s.seq % 7 = 3"
    source = SourceConfig(query=slow, timestamp_column="at", statement_timeout_seconds=1)

    for url, _ in _databases("mariadb", tmp_path):
        with pytest.raises(WarehouseError, match=r"longer than source.statement_timeout_seconds=1; raise it"):
            Warehouse(url).read_window(source, ["n", "at"], START, TRAINED_AT, model="churn")


def test_the_preflight_checks_the_source_and_counts_the_window_in_the_warehouse(runs: dict) -> None:
    warehouse, config = runs["warehouse"], runs["config"]

    findings = {f.check: f for f in source_findings(config, warehouse, TRAINED_AT, Database(runs["pipeline"]))}

    assert not [f for f in findings.values() if f.status is Status.PROBLEM], findings
    assert "holds 4,500 rows" in findings["rows"].message
    if runs["backend"] == "duckdb":
        assert findings["index"].status is Status.OK and "row-group min/max" in findings["index"].message
    else:  # the loaded table has no index: the finding says which to create
        assert "CREATE INDEX `customer_snapshots_snapshot_at_idx`" in findings["index"].message
