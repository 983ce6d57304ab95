"""The predictions `score_<model>` served, as the monitor reads them.

The table (`ModelConfig.predictions_table`) holds one row per scored source row per alias:
`model, model_version, alias, id, event_time, score, ..., source`; rows a later run replaced
(`superseded_at` set) are never read. REST rows (`source` 'rest') read as batch rows, `source` in
every key. The monitor reads a window of it by `event_time` (the source timestamp), and for matured
windows joins the labels that have arrived (`labels:` in the model file): a label not there yet is
NULL, never an error. A table that does not exist means nothing was served; any other warehouse
fault propagates (fail closed). Bulk reads go through ADBC on PostgreSQL, as the source's do.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from include.retraining.config import ModelConfig
from include.retraining.predictions.table import BATCH, CLASS_COLUMNS, SOURCE, SUPERSEDED_AT
from include.retraining.warehouse import (
    HASH_SPACE,
    LABEL,
    Database,
    Warehouse,
    WarehouseError,
    aware_utc,
    cast_float,
    cast_text,
    check_label_table,
    hash_below,
    label_columns,
    label_values,
    naive_utc,
    plain_arrow,
    plain_frame,
    python_hash,
    quote_name,
    read_labels,
    same_hash,
    sqlstate,
)

SERVED_COLUMNS = ["model_version", "alias", "id", "event_time", "score", SOURCE]
# True where the label relation held different labels for one prediction (left unlabelled).
LABEL_CONFLICT = "label_conflict"

log = logging.getLogger(__name__)


def served_columns(config: ModelConfig) -> list[str]:
    """What the monitor reads of each served row: a multiclass model's class columns too."""
    return [*SERVED_COLUMNS, *(CLASS_COLUMNS if config.task == "multiclass" else ())]


def has_predictions(db: Database, config: ModelConfig) -> bool:
    """Whether the predictions table exists: its absence is the explicit "nothing served"."""
    return db.has_table(config.predictions_table)


def read_served(
    db: Database,
    config: ModelConfig,
    start: datetime,
    end: datetime,
    *,
    alias: str | None = None,
    below: int = HASH_SPACE,
    hashed_by: str | None = None,
) -> pd.DataFrame:
    """Served rows with start < event_time <= end (every alias unless one is given), without labels;
    only those whose id hashes below `below` when it is set, by the hash of the backend that drew
    the source's sample (`hashed_by`, the warehouse's backend; default: this database's own).

    The hash is the source's (`warehouse.hash_below`), so the served rows follow the sampled ids:
    in SQL when this database hashes alike; else the window's served rows are read and filtered
    here with the same hash computed in Python (`warehouse.python_hash`: MySQL's CRC32, DuckDB's
    md5). PostgreSQL's hash has no Python twin: a PostgreSQL source sampled against predictions kept
    in another backend is refused, with the fix."""
    if not has_predictions(db, config):
        return pd.DataFrame(columns=served_columns(config))
    hashed_by = hashed_by or db.backend
    in_sql = below if same_hash(db.backend, hashed_by) else HASH_SPACE
    sql = _served_sql(db, config, with_labels=False, alias=alias, below=in_sql)
    frame = _fetch(db, config, sql, start, end, alias)
    return frame if in_sql == below else _hashed_below(frame, config, below, hashed_by, db)


def _hashed_below(frame: pd.DataFrame, config: ModelConfig, below: int, hashed_by: str, db: Database) -> pd.DataFrame:
    """The served rows whose id hashes below `below` by `hashed_by`'s hash, computed here."""
    hashed = python_hash(hashed_by)
    if hashed is None:
        raise WarehouseError(
            f"model {config.name!r}: the monitor sampled the {hashed_by} source by its id hash, which the pipeline "
            f"database {db.display} ({db.backend}) cannot compute, so the served predictions cannot be matched to "
            f"the sampled rows; keep the Airflow connection retraining_db on {hashed_by} too, or raise "
            "monitor.max_rows / monitor.max_matured_rows above the window's rows so the monitor reads it whole"
        )
    keep = frame["id"].map(lambda text: hashed(str(text)) < below)
    return frame.loc[keep.astype(bool)].reset_index(drop=True)


def read_served_with_labels(
    db: Database,
    config: ModelConfig,
    start: datetime,
    end: datetime,
    *,
    below: int = HASH_SPACE,
    labels: Warehouse | None = None,
) -> pd.DataFrame:
    """Served rows of the window, every alias, with the label that has arrived for each (or NaN);
    only the ids hashing below `below` when it is set, as in `read_served`.

    The labels are read from `labels`, the source warehouse, when it is another database than the
    predictions' (`pipeline_db`), and joined here; in one database, one SQL join does it.
    A label relation with several rows for one prediction keeps one labelled row, so a duplicate
    label never counts a prediction twice. Duplicates that disagree (0 and 1 for one prediction)
    leave it unlabelled, flagged in `LABEL_CONFLICT`: nothing tells which arrived last, and
    keeping either would bias the metric silently.
    """
    if not has_predictions(db, config):
        return pd.DataFrame(columns=[*served_columns(config), LABEL, LABEL_CONFLICT])
    if labels is not None and not labels.same_database(db):
        frame = _joined_apart(db, labels, config, start, end, below)
    else:
        check_label_table(db, config)
        id_type = _label_id_type(db, config)
        frame = _fetch(db, config, _served_sql(db, config, with_labels=True, below=below, id_type=id_type), start, end)
        frame[LABEL] = label_values(config, frame[LABEL])
    return _settle_conflicts(frame, config)


def _joined_apart(
    db: Database, labels: Warehouse, config: ModelConfig, start: datetime, end: datetime, below: int
) -> pd.DataFrame:
    """The served rows from the pipeline database, left-joined here with the labels read from the
    warehouse: the SQL join's rows, in its order."""
    served = read_served(db, config, start, end, below=below, hashed_by=labels.backend)
    arrived = read_labels(labels, config, start, end, served["id"].unique())
    keys = ["id", "event_time"] if "event_time" in arrived.columns else ["id"]
    served["event_time"] = served["event_time"].astype("datetime64[ns]")
    return served.merge(arrived, how="left", on=keys, sort=False)


def _settle_conflicts(frame: pd.DataFrame, config: ModelConfig) -> pd.DataFrame:
    """One row per served prediction: duplicate labels kept once, disagreeing ones left unlabelled."""
    frame[LABEL_CONFLICT] = False
    keys = ["alias", "model_version", "id", "event_time", SOURCE]
    if not frame.duplicated(keys).any():  # the usual case; the sort below costs seconds at 1M rows
        return frame
    conflicting = frame.groupby(keys, sort=False)[LABEL].transform("nunique") > 1
    frame.loc[conflicting, LABEL] = float("nan")
    frame.loc[conflicting, LABEL_CONFLICT] = True
    frame = frame.sort_values([*keys, LABEL], na_position="last", kind="stable")
    frame = frame.drop_duplicates(keys, keep="first").reset_index(drop=True)
    log.warning(
        "model %s: %d served prediction(s) have conflicting labels in %s; left unlabelled",
        config.name,
        int(frame[LABEL_CONFLICT].sum()),
        config.labels.table or "the source",
    )
    return frame


# The label id types a served id (text, as `warehouse.id_text` writes it) is cast to, so the join is
# by the id's own value and the label relation's index on it serves: '21.5' = 21.50 as numeric.
# Each with the text it casts from: a served id of any other shape matches nothing, never fails the read.
_TYPED_IDS = {
    "numeric": r"^-?[0-9]+(\.[0-9]+)?$",
    "smallint": r"^-?[0-9]{1,4}$",
    "integer": r"^-?[0-9]{1,9}$",
    "bigint": r"^-?[0-9]{1,18}$",
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}


def _label_id_type(db: Database, config: ModelConfig) -> str | None:
    """The PostgreSQL type of the label relation's id column when a served id is cast to it; None
    (join as text) for text ids, other types and other backends."""
    if not db.is_postgres:
        return None
    relation, id_column, _, _ = _label_relation(config, db.dialect, named=False)
    if id_column is None:
        return None
    q = db.dialect.identifier_preparer.quote_identifier
    alias = " AS src" if relation.startswith("(") else ""
    # A LEFT JOIN to an empty read: pg_typeof names the column's type even when no label arrived yet.
    sql = (
        f"SELECT pg_typeof(l.{q(id_column)})::text AS t FROM (SELECT 1) AS one "
        f"LEFT JOIN (SELECT * FROM {relation}{alias} LIMIT 0) AS l ON true"
    )
    kind = str(_fetch_adbc(db, config, sql, ())["t"].iloc[0])
    return kind if kind in _TYPED_IDS else None


def _label_relation(config: ModelConfig, dialect: sa.Dialect, named: bool) -> tuple[str, str | None, str | None, str]:
    """(relation, id column, timestamp column or None, label column) of where labels arrive, for SQL."""
    where = label_columns(config)
    if where.source.table:
        relation = quote_name(dialect, where.source.table)
    else:
        query = str(where.source.query)
        # Escaped colons, so SQLAlchemy's text() leaves ':x' in the user's literals alone.
        relation = "(\n" + (query.replace(":", "\\:") if named else query) + "\n)"
    return relation, where.id_column, where.timestamp_column, where.label


def _served_sql(
    db: Database,
    config: ModelConfig,
    *,
    with_labels: bool,
    alias: str | None = None,
    below: int = HASH_SPACE,
    id_type: str | None = None,
) -> str:
    named = not db.is_postgres
    dialect = db.dialect
    q = dialect.identifier_preparer.quote_identifier
    model, low, high = (":model", ":window_start", ":window_end") if named else ("$1", "$2", "$3")
    present = db.column_types(config.predictions_table)  # a table of an older version lacks the later columns
    # An older table's rows are batch rows, of a model that was not multiclass when they were written.
    missing = {SOURCE: f"'{BATCH}'"}
    selected = ", ".join(
        f"p.{q(c)}" if c in present else f"{missing.get(c, 'NULL')} AS {q(c)}" for c in served_columns(config)
    )
    sql = f"SELECT {selected}"
    relation = f"{quote_name(dialect, config.predictions_table)} AS p"
    if with_labels:
        labels, id_column, ts_column, label = _label_relation(config, dialect, named)
        if id_column is None:
            # Without an id a served row cannot be matched to its label: every label is missing.
            sql += f", {cast_float(dialect, 'NULL')} AS {LABEL}"
        else:
            served = f"p.{q('id')}"
            typed = f"l.{q(id_column)} = CASE WHEN {served} ~ '{_TYPED_IDS.get(id_type, '')}' THEN CAST({served} AS {id_type}) END"
            on = typed if id_type else f"{cast_text(dialect, f'l.{q(id_column)}')} = p.{q('id')}"
            on += f" AND l.{q(ts_column)} = p.{q('event_time')}" if ts_column else ""
            sql += f", l.{q(label)} AS {LABEL}"
            relation += f" LEFT JOIN {labels} AS l ON {on}"
    where = f"p.{q('model')} = {model} AND p.{q('event_time')} > {low} AND p.{q('event_time')} <= {high}"
    # Implied by interval_start < event_time <= interval_end; lets the (model, interval_end) index prune.
    where += f" AND p.{q('interval_end')} > {low} AND p.{q('interval_start')} < {high}"
    where += f" AND p.{q('alias')} = {':alias' if named else '$4'}" if alias else ""
    if SUPERSEDED_AT in present:
        where += f" AND p.{q(SUPERSEDED_AT)} IS NULL"
    if below < HASH_SPACE:
        key = f"p.{q('id')}"
        where += f" AND {hash_below(key, below, db.backend)}"
    return f"{sql} FROM {relation} WHERE {where} ORDER BY p.{q('event_time')}, p.{q('id')}"


def _fetch(
    db: Database, config: ModelConfig, sql: str, start: datetime, end: datetime, alias: str | None = None
) -> pd.DataFrame:
    try:
        if db.is_postgres:
            params = (config.name, aware_utc(start), aware_utc(end), *([alias] if alias else []))
            frame = _fetch_adbc(db, config, sql, params)
        else:
            frame = _fetch_sqlalchemy(
                db, config, sql, {"model": config.name, "start": start, "end": end, "alias": alias}
            )
    except sa.exc.DBAPIError as exc:
        # Refused SQL (a missing table or column) is the model file's fault; a lost connection is not.
        if not str(sqlstate(exc.orig) or "").startswith("42"):
            raise
        raise _refused(config, exc.orig) from exc
    frame = plain_frame(frame, "event_time")
    frame["model_version"] = frame["model_version"].astype(str)
    return frame


def _fetch_adbc(db: Database, config: ModelConfig, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    import adbc_driver_manager

    with db.adbc(config.source.statement_timeout_seconds) as conn, conn.cursor() as cursor:
        try:
            cursor.execute(sql, params)
            table = cursor.fetch_arrow_table()
        except adbc_driver_manager.Error as exc:
            if str(getattr(exc, "sqlstate", "") or "").startswith("42"):
                raise _refused(config, exc) from exc
            raise
    return plain_arrow(table).to_pandas()


def _fetch_sqlalchemy(db: Database, config: ModelConfig, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    statement = sa.text(sql).bindparams(
        sa.bindparam("window_start", type_=sa.DateTime()), sa.bindparam("window_end", type_=sa.DateTime())
    )
    values = {
        "model": params["model"],
        **({"alias": params["alias"]} if params["alias"] else {}),
        "window_start": naive_utc(params["start"]),
        "window_end": naive_utc(params["end"]),
    }
    with db.engine(config.source.statement_timeout_seconds, read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(statement, conn, params=values)


def _refused(config: ModelConfig, exc: BaseException) -> WarehouseError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WarehouseError(
        f"model {config.name!r}: the warehouse refused the read of served predictions "
        f"{config.predictions_table!r} joined with their labels ({reason}); check `labels:` (table, id_column, "
        "timestamp_column, column) and `source.id_column` in the model file, and that the predictions table has "
        "the columns score_<model> writes"
    )
