"""Bad warehouse tables and queries on a real Postgres (database time zone America/New_York).

Each case is one table or query a model might meet, read and validated as the retrain's extract
and validate steps do. A bad one must stop with a message naming the model, the table or column
and the fix, and leave nothing half-written: no files after a refused read, and after a failed
validation only the two whole GX result files. A harmless one (a zoned timestamp, a trailing
comment) must simply read the exact window. A feature leaked from the target passes validation
(nothing is wrong with its values) and is stopped by the gate, in a real retrain run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from demo.churn_data import generate_snapshots, load_window
from include.retraining.config import ModelConfig, ModelConfigError, parse_model_config
from include.retraining.learning import DataValidationError, validate_or_raise
from include.retraining.warehouse import Warehouse, WarehouseError
from tests.reliability.world import NEXT_RUN, World
from tests.support import PG_ADMIN_URL, REPO, postgres_databases, postgres_engine, run_dag, service_unavailable
from tests.support_faults import model_aliases, recorded_alerts
from tests.support_served import write_predictions

pytestmark = pytest.mark.reliability

START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=7)
ROWS = 300

# name -> the SQL that turns a copy of the good table ("{t}") into the bad one.
BROKEN_TABLES = {
    "wrong_type": "ALTER TABLE {t} ALTER COLUMN tenure_months TYPE text USING tenure_months::text || ' months'",
    "numeric_as_string": "ALTER TABLE {t} ALTER COLUMN monthly_charges TYPE text USING monthly_charges::text",
    "all_null": "UPDATE {t} SET monthly_charges = NULL",
    "infinite": "UPDATE {t} SET support_tickets_90d = 'Infinity' WHERE customer_id IN "
    "(SELECT customer_id FROM {t} ORDER BY customer_id LIMIT 3)",
    # finite, so the finite check passes it; the scaler's variance overflows on it
    "huge_value": "UPDATE {t} SET support_tickets_90d = 1e308 WHERE customer_id IN "
    "(SELECT customer_id FROM {t} ORDER BY customer_id LIMIT 3)",
    # an id declared categorical: one level per row
    "id_as_category": "UPDATE {t} SET payment_method = 'account-' || customer_id",
    "duplicated": "INSERT INTO {t} SELECT * FROM {t} ORDER BY customer_id LIMIT 30",
    "unknown_category": "UPDATE {t} SET contract = 'lifetime <!channel>' WHERE customer_id IN "
    "(SELECT customer_id FROM {t} ORDER BY customer_id LIMIT 90)",
    "negative": "UPDATE {t} SET tenure_months = -3 WHERE customer_id IN "
    "(SELECT customer_id FROM {t} ORDER BY customer_id LIMIT 5)",
    "text_target": "ALTER TABLE {t} ALTER COLUMN churned TYPE text USING CASE WHEN churned = 1 THEN 'yes' ELSE 'no' END",
    "missing_column": "ALTER TABLE {t} DROP COLUMN region",
    "zoned_timestamp": "ALTER TABLE {t} ALTER COLUMN snapshot_at TYPE timestamptz USING snapshot_at AT TIME ZONE 'UTC'",
    "null_timestamp": "UPDATE {t} SET snapshot_at = NULL WHERE customer_id IN "
    "(SELECT customer_id FROM {t} ORDER BY customer_id LIMIT 9)",
    "text_timestamp": "ALTER TABLE {t} ALTER COLUMN snapshot_at TYPE text USING snapshot_at::text",
    "varchar_timestamp": "ALTER TABLE {t} ALTER COLUMN snapshot_at TYPE varchar(40) USING snapshot_at::text",
}
FEATURES = "customer_id, churned, tenure_months, monthly_charges, support_tickets_90d, contract, payment_method, region"


@pytest.fixture(scope="module")
def warehouse() -> Iterator[str]:
    """One week of the demo table, and one broken copy of it per case, in a non-UTC database."""
    import sqlalchemy as sa

    name = f"retraining_badwh_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: no Postgres here
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    with postgres_engine().connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone = 'America/New_York'"))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    load_window(url, "good", generate_snapshots(ROWS, START, END, seed=3), START, END)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for case, change in BROKEN_TABLES.items():
            conn.execute(sa.text(f"CREATE TABLE {case} AS SELECT * FROM good"))
            conn.execute(sa.text(change.format(t=case)))
        conn.execute(sa.text("CREATE SEQUENCE tick"))
    engine.dispose()
    yield url
    postgres_databases(name, drop=True)


def _config(**source: object) -> ModelConfig:
    """The shipped churn model, reading `source` over one week with small-data limits, parsed as
    its model file is (`churn.yaml`)."""
    data = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    data["source"] = {"timestamp_column": "snapshot_at", "id_column": "customer_id", **source}
    data["training"].update({"window_days": 7, "label_delay_days": 0, "min_rows": 100})
    return parse_model_config(data, Path("churn.yaml"))


def _extract_and_validate(config: ModelConfig, url: str, out: Path) -> int:
    """What retrain's extract and validate do with the window: read it, then validate it."""
    columns = [config.source.id_column, config.source.timestamp_column, config.target, *config.features.columns]
    Warehouse(url).check_timestamps(config)  # as extract does first
    frame = Warehouse(url).read_window(config.source, columns, START, END, model=config.name)
    validate_or_raise(frame, config, None, out)
    return len(frame)


def _refused_read(config: ModelConfig, url: str, out: Path) -> str:
    with pytest.raises(WarehouseError) as raised:
        _extract_and_validate(config, url, out)
    assert not out.exists(), "a refused read must write nothing"
    return str(raised.value)


def _failed_validation(config: ModelConfig, url: str, out: Path) -> str:
    with pytest.raises(DataValidationError) as raised:
        _extract_and_validate(config, url, out)
    assert sorted(p.name for p in out.iterdir()) == ["gx_result.html", "gx_result.json"]
    assert json.loads((out / "gx_result.json").read_text())["success"] is False  # whole, not torn
    return str(raised.value)


def _names(message: str, *parts: str) -> None:
    assert "'churn'" in message or "churn.yaml" in message, message
    for part in parts:
        assert part in message, f"{part!r} missing from: {message}"


def test_missing_table(warehouse: str, tmp_path: Path) -> None:
    message = _refused_read(_config(table="no_such_table"), warehouse, tmp_path / "out")
    _names(message, "table 'no_such_table' does not exist", "check `source.table` in the model file")


def test_missing_column(warehouse: str, tmp_path: Path) -> None:
    message = _refused_read(_config(table="missing_column"), warehouse, tmp_path / "out")
    _names(message, "table 'missing_column'", "no column(s) ['region']", "fix `features`, `target` or `source`")


def test_missing_column_in_a_query(warehouse: str, tmp_path: Path) -> None:
    config = _config(query="select customer_id, snapshot_at, churned from good")
    message = _refused_read(config, warehouse, tmp_path / "out")
    _names(message, "`source.query`", "'tenure_months'", "fix `features`, `target` or `source`")


@pytest.mark.parametrize(
    ("case", "expectation", "column", "fix"),
    [
        (
            "wrong_type",
            "expect_column_values_to_be_in_type_list",
            "tenure_months",
            "the column must be numeric: cast it",
        ),
        (
            "numeric_as_string",
            "expect_column_values_to_be_in_type_list",
            "monthly_charges",
            "the column must be numeric",
        ),
        ("all_null", "expect_column_values_to_not_be_null", "monthly_charges", "fix the upstream load"),
        ("infinite", "expect_column_values_to_be_finite", "support_tickets_90d", "inf/-inf are broken data"),
        (
            "huge_value",
            "expect_column_values_to_have_plausible_magnitude",
            "support_tickets_90d",
            "give it bounds in validation.ranges",
        ),
        ("duplicated", "expect_compound_columns_to_be_unique", "customer_id, snapshot_at", "deduplicate the load"),
        ("unknown_category", "expect_column_values_to_be_in_set", "contract", "validation.allowed_categories"),
        ("negative", "expect_column_values_to_be_between", "tenure_months", "widen validation.ranges"),
        ("text_target", "expect_column_values_to_be_in_set", "churned", "fix the upstream load"),
    ],
)
def test_bad_values_fail_validation_by_column_with_the_fix(
    warehouse: str, tmp_path: Path, case: str, expectation: str, column: str, fix: str
) -> None:
    message = _failed_validation(_config(table=case), warehouse, tmp_path / "out")
    _names(message, f"{expectation} on {column}", "Fix: ", fix)
    assert "<!channel>" not in message, "row values stay out of the alert by default"


def test_an_id_declared_categorical_fails_validation_naming_the_count_and_the_fix(
    warehouse: str, tmp_path: Path
) -> None:
    """300 rows, so the limit is lowered to 100 here: the default 1000 judges the same way."""
    config = _config(table="id_as_category")
    config = config.model_copy(update={"validation": config.validation.model_copy(update={"max_categories": 100})})

    message = _failed_validation(config, warehouse, tmp_path / "out")

    _names(
        message,
        f"expect_column_unique_value_count_to_be_between on payment_method: observed {ROWS}",
        "expected max_value=100",
        "move the column to `features.numeric`",
        "raise validation.max_categories",
    )


def test_a_feature_leaked_from_the_target_is_blocked_by_the_gate_with_an_alert_naming_it(world: World) -> None:
    """A refund column only churners have, brought in by the source query: holdout AUC ~1.0, which
    the comparison with the champion alone promotes."""
    config = world.write_model()
    config["source"].pop("table")
    config["source"]["query"] = "select *, churned * 40.0 as refund_amount from customer_snapshots"
    config["features"]["numeric"].append("refund_amount")
    (world.models_dir / "churn.yaml").write_text(yaml.safe_dump(config))

    states = run_dag("retrain_churn", NEXT_RUN)

    assert "failed" not in states.values() and states["promote"] == "skipped", states
    assert model_aliases() == {"champion": "1", "challenger": "2"}
    (alert,) = recorded_alerts("gate_blocked")
    assert alert["model"] == "churn"
    _names(
        "model 'churn': " + "\n".join(alert["lines"]),
        "label leakage suspected: feature 'refund_amount' alone nearly decides",
        "gate.leakage.single_feature 0.99",
        "Fix: drop 'refund_amount' from `features`",
        "fix the upstream join",
    )


def test_empty_window(warehouse: str, tmp_path: Path) -> None:
    config = _config(table="good")
    with pytest.raises(DataValidationError) as raised:
        columns = [config.source.timestamp_column, config.target, *config.features.columns]
        frame = Warehouse(warehouse).read_window(config.source, columns, END, END + timedelta(days=7), model="churn")
        validate_or_raise(frame, config, None, tmp_path / "out")
    _names(str(raised.value), "expect_table_row_count_to_be_between on table", "check that the upstream load ran")


def test_zoned_timestamps_in_a_non_utc_database_read_the_exact_window(warehouse: str, tmp_path: Path) -> None:
    rows = _extract_and_validate(_config(table="zoned_timestamp"), warehouse, tmp_path / "out")
    assert rows == ROWS


def test_query_with_a_trailing_comment_reads(warehouse: str, tmp_path: Path) -> None:
    config = _config(query="select * from good -- every row, the window is added outside")
    assert _extract_and_validate(config, warehouse, tmp_path / "out") == ROWS


@pytest.mark.parametrize(
    ("query", "fix"),
    [
        ("with gone as (delete from good returning *) select * from gone", "a single read-only SELECT"),
        ("select *, nextval('tick') as n from good", "read-only session; `source.query` must only read"),
    ],
)
def test_a_query_that_writes_is_refused_and_writes_nothing(
    warehouse: str, tmp_path: Path, query: str, fix: str
) -> None:
    message = _refused_read(_config(query=query), warehouse, tmp_path / "out")
    _names(message, "`source.query`", fix)
    assert _extract_and_validate(_config(table="good"), warehouse, tmp_path / "after") == ROWS  # table intact


def test_a_query_missing_a_feature_stops_the_retrain_dag_with_an_alert_and_no_snapshot(
    tmp_path: Path, warehouse_db: str, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusal through a real run: extract fails once (no retry on a named error) and alerts."""
    from include.orchestration.alerting import alert_outbox
    from include.retraining.alerts import read_alerts

    models, data = tmp_path / "models", tmp_path / "data"
    models.mkdir()
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["source"] = {
        "query": "select customer_id, snapshot_at, churned from customer_snapshots -- a feature short",
        "timestamp_column": "snapshot_at",
        "id_column": "customer_id",
    }
    (models / "churn.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("RETRAINING_DATA_DIR", str(data))
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(models))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse_db)
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_ALERTS", raising=False)

    states = run_dag("retrain_churn", datetime(2026, 3, 16, 3, tzinfo=UTC))

    assert states["extract"] == "failed" and states["train"] == "upstream_failed"
    (alert,) = read_alerts(alert_outbox())
    text = "\n".join(alert["lines"])
    _names(text, "`source.query`", "'tenure_months'", "fix `features`, `target` or `source`")
    assert not (data / "artifacts" / "churn" / "snapshots").exists()


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        (
            {"table": "null_timestamp"},
            [
                "9 of 300 rows (3.0%) of table 'null_timestamp'",
                "NULL or unreadable source.timestamp_column 'snapshot_at'",
                "source.max_null_timestamp_share=0.01",
                "Fix the upstream load so every row has its time",
            ],
        ),
        (
            {"table": "text_timestamp"},
            ["'snapshot_at' of table 'text_timestamp' is of type text", "CAST(snapshot_at AS timestamptz)"],
        ),
        (
            {"table": "varchar_timestamp"},
            ["'snapshot_at' of table 'varchar_timestamp' is of type character varying", "a view with CAST("],
        ),
        (
            {"query": "select * from text_timestamp where region <> 'nowhere'"},
            ["of the `source.query` is of type text", "a `source.query` that selects CAST(snapshot_at AS timestamptz)"],
        ),
    ],
    ids=["null", "text", "varchar", "text-in-a-query"],
)
def test_a_timestamp_no_window_can_use_is_refused_by_column_with_the_fix(
    warehouse: str, tmp_path: Path, source: dict, parts: list[str]
) -> None:
    message = _refused_read(_config(**source), warehouse, tmp_path / "out")
    _names(message, *parts)


def test_a_few_null_timestamps_are_counted_and_the_window_reads_the_dated_rows(warehouse: str, tmp_path: Path) -> None:
    config = _config(table="null_timestamp", max_null_timestamp_share=0.05)

    counted = Warehouse(warehouse).check_timestamps(config)

    assert (counted.rows, counted.undated) == (ROWS, 9)
    assert _extract_and_validate(config, warehouse, tmp_path / "out") == ROWS - 9


def test_a_text_timestamp_cast_in_the_query_as_the_message_says_reads_the_exact_window(
    warehouse: str, tmp_path: Path
) -> None:
    query = f"select {FEATURES}, CAST(snapshot_at AS timestamptz) AS snapshot_at from text_timestamp"
    assert _extract_and_validate(_config(query=query), warehouse, tmp_path / "out") == ROWS


@pytest.mark.parametrize(
    ("query", "shaping"),
    [
        ("select * from good order by snapshot_at desc limit 100", "LIMIT"),
        ("select distinct on (customer_id) * from good order by customer_id, snapshot_at desc", "DISTINCT"),
        (f"select {FEATURES}, max(snapshot_at) as snapshot_at from good group by {FEATURES}", "GROUP BY"),
        ("select *, row_number() over (partition by region order by snapshot_at) as k from good", "OVER"),
        ("select * from good union select * from good", "UNION"),
        ("with recent as (select * from good limit 50) select * from recent", "LIMIT"),
    ],
    ids=["limit", "distinct", "group-by", "window-function", "union", "limit-in-a-cte"],
)
def test_a_query_that_reshapes_rows_before_the_window_filter_is_refused_at_load_with_the_fix(
    warehouse: str, tmp_path: Path, query: str, shaping: str
) -> None:
    """Refused before any read: the window filter is applied outside the query, so these would
    silently read the wrong rows (a LIMIT over all time, not over the window)."""
    with pytest.raises(ModelConfigError) as raised:
        _extract_and_validate(_config(query=query), warehouse, tmp_path / "out")

    message = str(raised.value)
    _names(message, "key 'source.query'", shaping, "remove it and let the pipeline filter the window", "view")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def latin1_warehouse(warehouse: str) -> Iterator[str]:
    """The good week in a SQL_ASCII database (PostgreSQL stores its text bytes unchecked), one
    region spelled in latin-1: what a load from a latin-1 file leaves behind."""
    import sqlalchemy as sa

    name = f"retraining_ascii_{uuid.uuid4().hex[:8]}"
    with postgres_engine().connect() as conn:
        conn.execute(
            sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
        )
    url = sa.engine.make_url(warehouse).set(database=name).render_as_string(hide_password=False)
    load_window(url, "good", generate_snapshots(ROWS, START, END, seed=3), START, END)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE good SET region = 'Mal' || convert_from('\\xe9'::bytea, 'SQL_ASCII') WHERE customer_id IN "
                "(SELECT customer_id FROM good ORDER BY customer_id LIMIT 4)"
            )
        )
    engine.dispose()
    yield url
    postgres_databases(name, drop=True)


@pytest.mark.parametrize("read", ["read_window", "window_batches"])
def test_text_that_is_not_utf8_is_refused_naming_the_column_not_the_value(
    latin1_warehouse: str, tmp_path: Path, read: str
) -> None:
    """Both reads the pipeline makes of a window: whole (validation, scoring) and streamed (extract)."""
    config = _config(table="good")
    columns = [config.source.timestamp_column, *config.features.columns]
    warehouse = Warehouse(latin1_warehouse)

    with pytest.raises(WarehouseError) as raised:
        if read == "read_window":
            warehouse.read_window(config.source, columns, START, END, model="churn")
        else:
            with warehouse.window_batches(config.source, columns, START, END, model="churn") as batches:
                batches.read_all()

    message = str(raised.value)
    _names(message, "column 'region' of table 'good' holds text that is not UTF-8", "re-encode 'region' as UTF-8")
    assert "Mal" not in message


@pytest.mark.parametrize(
    ("id_type", "ids"),
    [
        ("numeric(12,2)", ["1001.50", "1002.00", "1003.25", "1004.10", "1005.00", "1006.75"]),
        ("uuid", [str(uuid.UUID(int=7919 * i + 1)) for i in range(6)]),
        ("bigint", ["9007199254740993", "2", "3", "4", "5", "6"]),
    ],
    ids=["numeric", "uuid", "bigint"],
)
def test_late_labels_join_an_id_of_its_own_type_as_scoring_stored_it(
    warehouse: str, id_type: str, ids: list[str]
) -> None:
    """The source read as scoring reads it, its predictions written by scoring's own rows, and the
    labels that arrived later (4 of 6) joined back: each matched by its id's value, whatever its type."""
    import sqlalchemy as sa

    from include.retraining.common import Window
    from include.retraining.predictions import read_served_with_labels
    from include.retraining.score.scoring import Stamp, prediction_rows

    table = f"typed_ids_{id_type.split('(')[0]}"
    times = [(START + timedelta(hours=i + 1)).replace(tzinfo=None) for i in range(len(ids))]  # naive UTC, as loaded
    labels = [1, 0, 1, 0, None, None]  # the last two have not arrived
    engine = sa.create_engine(warehouse)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (customer_id {id_type}, snapshot_at timestamp, churned bigint)"))
        for row in zip(ids, times, labels, strict=True):
            conn.execute(
                sa.text(f"INSERT INTO {table} VALUES (CAST(:i AS {id_type}), :t, :y)"),
                dict(zip("ity", row, strict=True)),
            )
    engine.dispose()
    config = _config(table=table)
    served = Warehouse(warehouse).read_window(config.source, ["customer_id", "snapshot_at"], START, END, model="churn")
    stamp = Stamp("churn", "3", "champion", Window(START, END), END, "scheduled__test")
    write_predictions(warehouse, prediction_rows(served, np.full(len(ids), 0.4), "customer_id", "snapshot_at", stamp))

    frame = read_served_with_labels(Warehouse(warehouse), config, START, END)

    assert len(frame) == len(ids)
    assert frame["label"].tolist()[:4] == [1.0, 0.0, 1.0, 0.0] and frame["label"].isna().sum() == 2
