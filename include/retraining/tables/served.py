"""The predictions `score_<model>` served, as the monitor reads them: an adapter of the warehouse.

The table (default `<model>_predictions`, set under `scoring:`) holds one row per scored source
row per alias: `model, model_version, alias, id, event_time, score, interval_start, interval_end,
scored_at, run_id`. The monitor reads a window of it by `event_time` (the source timestamp), and
for matured windows joins the labels that have arrived (`labels:` in the model file): a label
not there yet is NULL, never an error. A table that does not exist means nothing was served; any
other warehouse fault propagates (fail closed). Same engine lifetime and bulk reads (ADBC on
Postgres) as `warehouse.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from include.retraining.config.model import ModelConfig

# The table's name is defined once, with the `scoring:` section (also without one: `<model>_predictions`,
# so predictions served before the section was removed still count).
from include.retraining.config.scoring import predictions_table as predictions_table
from include.retraining.warehouse.reads import is_postgres, libpq_uri, open_engine, quote_name
from include.retraining.warehouse.sample import HASH_SPACE, hash_below
from include.retraining.warehouse.types import (
    WarehouseError,
    aware_utc,
    naive_utc,
    plain_arrow,
    plain_frame,
    sqlite_state,
)

SERVED_COLUMNS = ["model_version", "alias", "id", "event_time", "score"]
LABEL = "label"


def has_predictions(url: str, config: ModelConfig) -> bool:
    """Whether the predictions table exists: its absence is the explicit "nothing served"."""
    schema, _, name = predictions_table(config).rpartition(".")
    with open_engine(url) as engine:
        return sa.inspect(engine).has_table(name, schema=schema or None)


def read_served(
    url: str,
    config: ModelConfig,
    start: datetime,
    end: datetime,
    *,
    alias: str | None = None,
    below: int = HASH_SPACE,
) -> pd.DataFrame:
    """Served rows with start < event_time <= end (every alias unless one is given), without labels;
    only those whose id hashes below `below` (`warehouse_sample.hash_below`) when it is set."""
    if not has_predictions(url, config):
        return pd.DataFrame(columns=SERVED_COLUMNS)
    sql = _served_sql(url, config, with_labels=False, alias=alias, below=below)
    return _fetch(url, config, sql, start, end, alias)


def read_served_with_labels(
    url: str, config: ModelConfig, start: datetime, end: datetime, *, below: int = HASH_SPACE
) -> pd.DataFrame:
    """Served rows of the window, every alias, with the label that has arrived for each (or NaN);
    only the ids hashing below `below` when it is set, as in `read_served`.

    A label relation with several rows for one prediction keeps one labelled row, so a duplicate
    label never counts a prediction twice.
    """
    if not has_predictions(url, config):
        return pd.DataFrame(columns=[*SERVED_COLUMNS, LABEL])
    _check_label_table(url, config)
    frame = _fetch(url, config, _served_sql(url, config, with_labels=True, below=below), start, end)
    keys = ["alias", "model_version", "id", "event_time"]
    if not frame.duplicated(keys).any():  # the usual case; the sort below costs seconds at 1M rows
        return frame
    frame = frame.sort_values([*keys, LABEL], na_position="last", kind="stable")
    return frame.drop_duplicates(keys, keep="first").reset_index(drop=True)


def _label_relation(config: ModelConfig, dialect: sa.Dialect, named: bool) -> tuple[str, str, str | None, str]:
    """(relation, id column, timestamp column or None, label column) of where labels arrive."""
    labels, source = config.labels, config.source
    if labels.table is not None:
        id_column = labels.id_column or source.id_column
        return quote_name(dialect, labels.table), id_column, labels.timestamp_column, labels.column or config.target
    if source.table:
        relation = quote_name(dialect, source.table)
    else:
        query = source.query.replace(":", "\\:") if named else source.query
        relation = f"(\n{query}\n)"
    return relation, source.id_column, source.timestamp_column, config.target


def _served_sql(
    url: str, config: ModelConfig, *, with_labels: bool, alias: str | None = None, below: int = HASH_SPACE
) -> str:
    named = not is_postgres(url)
    dialect = make_url(url).get_dialect()() if named else postgresql.dialect()
    q = dialect.identifier_preparer.quote_identifier
    model, low, high = (":model", ":window_start", ":window_end") if named else ("$1", "$2", "$3")
    selected = ", ".join(f"p.{q(c)}" for c in SERVED_COLUMNS)
    sql = f"SELECT {selected}"
    relation = f"{quote_name(dialect, predictions_table(config))} AS p"
    if with_labels:
        labels, id_column, ts_column, label = _label_relation(config, dialect, named)
        if id_column is None:
            # Without an id a served row cannot be matched to its label: every label is missing.
            sql += f", CAST(NULL AS {'REAL' if named else 'DOUBLE PRECISION'}) AS {LABEL}"
        else:
            on = f"CAST(l.{q(id_column)} AS TEXT) = p.{q('id')}"
            on += f" AND l.{q(ts_column)} = p.{q('event_time')}" if ts_column else ""
            sql += f", l.{q(label)} AS {LABEL}"
            relation += f" LEFT JOIN {labels} AS l ON {on}"
    where = f"p.{q('model')} = {model} AND p.{q('event_time')} > {low} AND p.{q('event_time')} <= {high}"
    # Implied by interval_start < event_time <= interval_end; lets the (model, interval_end) index prune.
    where += f" AND p.{q('interval_end')} > {low} AND p.{q('interval_start')} < {high}"
    where += f" AND p.{q('alias')} = {':alias' if named else '$4'}" if alias else ""
    if below < HASH_SPACE:
        if named:
            raise WarehouseError(f"model {config.name!r}: served predictions are sampled on PostgreSQL only")
        key = f"p.{q('id')}"
        where += f" AND {hash_below(key, below)}"
    return f"{sql} FROM {relation} WHERE {where} ORDER BY p.{q('event_time')}, p.{q('id')}"


def _fetch(
    url: str, config: ModelConfig, sql: str, start: datetime, end: datetime, alias: str | None = None
) -> pd.DataFrame:
    try:
        if is_postgres(url):
            params = (config.name, aware_utc(start), aware_utc(end), *([alias] if alias else []))
            frame = _fetch_adbc(url, config, sql, params)
        else:
            frame = _fetch_sqlalchemy(
                url, config, sql, {"model": config.name, "start": start, "end": end, "alias": alias}
            )
    except sa.exc.DBAPIError as exc:
        # Refused SQL (a missing table or column) is the model file's fault; a lost connection is not.
        if not str(getattr(exc.orig, "pgcode", None) or sqlite_state(str(exc.orig)) or "").startswith("42"):
            raise
        raise _refused(config, exc.orig) from exc
    frame = plain_frame(frame, "event_time")
    frame["model_version"] = frame["model_version"].astype(str)
    return frame


def _fetch_adbc(url: str, config: ModelConfig, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    timeout = config.source.statement_timeout_seconds
    with adbc.connect(libpq_uri(url, timeout)) as conn, conn.cursor() as cursor:
        try:
            cursor.execute(sql, params)
            table = cursor.fetch_arrow_table()
        except adbc_driver_manager.Error as exc:
            if str(getattr(exc, "sqlstate", "") or "").startswith("42"):
                raise _refused(config, exc) from exc
            raise
    return plain_arrow(table).to_pandas()


def _fetch_sqlalchemy(url: str, config: ModelConfig, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    statement = sa.text(sql).bindparams(
        sa.bindparam("window_start", type_=sa.DateTime()), sa.bindparam("window_end", type_=sa.DateTime())
    )
    values = {
        "model": params["model"],
        **({"alias": params["alias"]} if params["alias"] else {}),
        "window_start": naive_utc(params["start"]),
        "window_end": naive_utc(params["end"]),
    }
    with open_engine(url, config.source.statement_timeout_seconds, read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(statement, conn, params=values)


def _check_label_table(url: str, config: ModelConfig) -> None:
    table = config.labels.table
    if table is None:
        return
    schema, _, name = table.rpartition(".")
    with open_engine(url) as engine:
        if not sa.inspect(engine).has_table(name, schema=schema or None):
            raise WarehouseError(
                f"model {config.name!r}: labels.table {table!r} does not exist in the warehouse; fix `labels.table` "
                "in the model file or create the table the labels land in (it may stay empty until they arrive)"
            )


def _refused(config: ModelConfig, exc: BaseException) -> WarehouseError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WarehouseError(
        f"model {config.name!r}: the warehouse refused the read of served predictions "
        f"{predictions_table(config)!r} joined with their labels ({reason}); check `labels:` (table, id_column, "
        "timestamp_column, column) and `source.id_column` in the model file, and that the predictions table has "
        "the columns score_<model> writes"
    )
