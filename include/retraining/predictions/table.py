"""The predictions table (`<model>_predictions`, or `scoring.output_table`): what `score_<model>`
wrote, one row per scored source row per alias.

The columns are a contract between areas (the monitor reads them with the late labels); change
them only with the lead. A scoring interval is replaced whole, in one transaction, and what it
replaces is kept: the live rows (`superseded_at` NULL) of the model whose source rows fall in the
interval are marked `superseded_at` and the new ones inserted. So a rerun, a clear, a backfill or a
rescore after a champion move never duplicates a live row and never leaves half an interval, what
was delivered stays readable, and a changed `scoring.schedule`, whose intervals straddle the old
ones, still leaves one live row per source row and alias. On PostgreSQL the insert is ADBC's bulk
ingest (binary COPY) inside that transaction, under the per-model named lock held for that
transaction (`pg_advisory_xact_lock`); elsewhere SQLAlchemy under the same named lock
(`locking.named_lock`): two runs of one model never interleave.

The REST server's inference log appends rows (inference/store.py), `source` 'rest' (else 'batch'),
`features` as JSON; an interval supersedes batch rows only (docs/operations.md, "Inference log").
With a canary (`serving.canary`) a row's `answered` says whether its score was the answer given
or a shadow score beside it (NULL: written without a canary, the champion's row answered).
`ensure_table` adds `superseded_at`, `source`, `features`, `answered` to an older table: rows live,
'batch', `answered` NULL; and `predicted_class`, `probabilities`, which a multiclass model's rows
fill (`score_columns`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from include.retraining.common import Window
from include.retraining.locking import lock_key, named_lock
from include.retraining.tables import add_column
from include.retraining.tables import timestamp_type as timestamp
from include.retraining.warehouse import WRITE_TIMEOUT_S, Database, WarehouseError, naive_utc

TIME_COLUMNS = ("event_time", "interval_start", "interval_end", "scored_at")
COLUMNS = ("model", "model_version", "alias", "id", "event_time", "score", "interval_start", "interval_end")
COLUMNS += ("scored_at", "run_id")
SUPERSEDED_AT, SOURCE, FEATURES = "superseded_at", "source", "features"
# A multiclass model's rows also carry its predicted class and every class's probability (one JSON
# object, class -> probability), which the monitor's metrics on matured labels need; NULL elsewhere.
PREDICTED_CLASS, PROBABILITIES = "predicted_class", "probabilities"
CLASS_COLUMNS = (PREDICTED_CLASS, PROBABILITIES)
# Whether the row's score was the answer given (False: scored in shadow beside the version that
# answered, as the champion beside a canary); NULL on rows written without it: the champion's answered.
ANSWERED = "answered"
# The columns a frame may add to the contract's, each with its Arrow type.
_OPTIONAL = {PREDICTED_CLASS: pa.string(), PROBABILITIES: pa.string(), ANSWERED: pa.bool_()}
BATCH, REST = "batch", "rest"
ARROW_SCHEMA = pa.schema(
    [(c, pa.timestamp("us") if c in TIME_COLUMNS else pa.float64() if c == "score" else pa.string()) for c in COLUMNS]
)


def table_definition(name: str) -> sa.Table:
    schema, _, table = name.rpartition(".")
    kinds = {c: timestamp() if c in TIME_COLUMNS else sa.Text() for c in COLUMNS}
    kinds["score"] = sa.Double()
    # Every column is required but the score (SQLite stores a NaN as NULL).
    columns = [sa.Column(c, kinds[c], nullable=c == "score") for c in COLUMNS]
    columns += _added_columns()
    # One index, for the interval a run replaces and the windows the monitor reads. None on id: the
    # monitor joins the labels to a window's rows, so it would only slow every bulk write.
    index = sa.Index(f"ix_{table}_interval", "model", "interval_end", "interval_start", mysql_length={"model": 191})
    return sa.Table(table, sa.MetaData(schema=schema or None), *columns, index)


def _added_columns() -> list[sa.Column]:
    """The columns added after the first release, nullable so any backend adds them in place."""
    return [
        sa.Column(SUPERSEDED_AT, timestamp(), nullable=True),
        sa.Column(PREDICTED_CLASS, sa.Text(), nullable=True),
        sa.Column(PROBABILITIES, sa.Text(), nullable=True),
        sa.Column(SOURCE, sa.String(16), nullable=True, server_default=BATCH),
        sa.Column(FEATURES, sa.Text(), nullable=True),
        sa.Column(ANSWERED, sa.Boolean(create_constraint=False), nullable=True),
    ]


def ensure_table(db: Database, name: str) -> None:
    """Create the table and its indexes when missing, and add the columns a table made before them
    lacks (every row stays live and `'batch'`); idempotent."""
    with db.engine() as engine:
        table_definition(name).metadata.create_all(engine, checkfirst=True)
    present = db.column_types(name)
    for column in [c for c in _added_columns() if c.name not in present]:
        add_column(db, name, column)


def grant_append(db: Database, name: str, role: str) -> None:
    """Let `role` append to the table and do nothing else with it (PostgreSQL's INSERT privilege:
    no SELECT, UPDATE or DELETE), for the REST server's inference log; idempotent."""
    if not db.is_postgres:
        raise WarehouseError(
            f"RETRAINING_SERVING_DB_ROLE={role!r} is granted INSERT on PostgreSQL only, and the pipeline "
            f"database {db.display} is not: unset it and grant the inference log's user INSERT on {name} yourself"
        )
    with db.engine() as engine, engine.begin() as conn:
        conn.execute(sa.text(f"GRANT INSERT ON {db.quote(name)} TO {db.quote(role)}"))


def replace_interval(db: Database, name: str, frame: pd.DataFrame, model: str, interval: Window) -> int:
    """Replace the model's rows of one scoring interval with `frame` (contract columns, a multiclass
    model's class columns, `answered` when a canary split the interval), in one transaction; the
    number of rows written."""
    unknown = (set(frame.columns) - set(_OPTIONAL)) ^ set(COLUMNS)
    if unknown:
        raise ValueError(f"predictions frame columns differ from the contract: {sorted(unknown)}")
    ensure_table(db, name)
    bounds = (naive_utc(interval.start), naive_utc(interval.end))
    superseded_at = naive_utc(datetime.now(UTC))
    lock = f"predictions/{name}/{model}"
    if db.is_postgres:
        _replace_postgres(db, name, _arrow(frame), model, bounds, superseded_at, lock_key(lock))
    else:
        with named_lock(db, lock):
            _replace_sqlalchemy(db, name, frame, model, bounds, superseded_at)
    return len(frame)


def prune_before(db: Database, name: str, model: str, cutoff: datetime) -> int:
    """Delete the model's rows whose interval ended at or before `cutoff`, superseded or not, under the
    interval writers' lock (through the index on model and interval end); how many were deleted."""
    if not db.has_table(name):
        return 0
    delete = sa.text(f"DELETE FROM {db.quote(name)} WHERE model = :model AND interval_end <= :cutoff").bindparams(
        sa.bindparam("cutoff", type_=sa.DateTime())
    )
    with named_lock(db, f"predictions/{name}/{model}"), db.engine() as engine, engine.begin() as conn:
        return conn.execute(delete, {"model": model, "cutoff": naive_utc(cutoff)}).rowcount


# The live batch rows an interval replaces: its source rows (interval_start < event_time <=
# interval_end, as scoring selects them), whatever interval wrote them; never a REST answer. The
# interval bounds are implied and let the (model, interval_end, interval_start) index prune.
_REPLACED = (
    "model = {model} AND superseded_at IS NULL AND COALESCE(source, 'batch') = 'batch'"
    " AND event_time > {start} AND event_time <= {end}"
    " AND interval_end > {start} AND interval_start < {end}"
)


def score_columns(scores: np.ndarray | pd.DataFrame) -> dict[str, Any]:
    """A model's scores as the table's columns: `score`; for a multiclass model's class probabilities
    (a frame, a column per class), the predicted class's probability as `score`, beside the
    predicted class and every class's probability."""
    if not isinstance(scores, pd.DataFrame):
        return {"score": np.asarray(scores, dtype="float64")}
    matrix = scores.to_numpy(dtype="float64")
    best = matrix.argmax(axis=1)
    classes = [str(c) for c in scores.columns]
    return {
        "score": matrix[np.arange(len(matrix)), best],
        PREDICTED_CLASS: np.asarray(classes, dtype=object)[best],
        PROBABILITIES: [json.dumps(dict(zip(classes, row, strict=True))) for row in matrix.tolist()],
    }


def probabilities_frame(texts: pd.Series) -> pd.DataFrame:
    """The class probabilities of `PROBABILITIES` texts as a frame, a column per class any row names
    (0 where a row's version did not learn it); the rows keep the series' index."""
    rows = [json.loads(text) for text in texts]
    return pd.DataFrame(rows, index=texts.index, dtype="float64").fillna(0.0)


def _written(frame: pd.DataFrame) -> list[str]:
    """The contract's columns, and the optional ones (class columns, `answered`) the frame has."""
    return [*COLUMNS, *(c for c in _OPTIONAL if c in frame.columns)]


def _arrow(frame: pd.DataFrame) -> pa.Table:
    columns = _written(frame)
    schema = pa.schema([*ARROW_SCHEMA, *((c, _OPTIONAL[c]) for c in columns[len(COLUMNS) :])])
    return pa.Table.from_pandas(frame[columns], schema=schema, preserve_index=False)


def _replace_postgres(
    db: Database,
    name: str,
    rows: pa.Table,
    model: str,
    bounds: tuple[datetime, datetime],
    superseded_at: datetime,
    key: int,
) -> None:
    schema, _, table = name.rpartition(".")
    quoted = db.quote(name)
    with db.adbc(WRITE_TIMEOUT_S, read_only=False) as conn:
        with conn.cursor() as cursor:
            # The named lock's key, held to this transaction's end (locking/locks.py).
            cursor.execute("SELECT pg_advisory_xact_lock($1)", (key,))
            cursor.execute(
                f"UPDATE {quoted} SET superseded_at = $4 WHERE " + _REPLACED.format(model="$1", start="$2", end="$3"),
                (model, *bounds, superseded_at),
            )
            if rows.num_rows:
                cursor.adbc_ingest(table, rows, mode="append", db_schema_name=schema or None)
        conn.commit()


def _replace_sqlalchemy(
    db: Database, name: str, frame: pd.DataFrame, model: str, bounds: tuple[datetime, ...], superseded_at: datetime
) -> None:
    table = table_definition(name)
    supersede = sa.text(
        f"UPDATE {db.quote(name)} SET superseded_at = :at WHERE "
        + _REPLACED.format(model=":model", start=":start", end=":end")
    ).bindparams(*(sa.bindparam(key, type_=sa.DateTime()) for key in ("at", "start", "end")))
    records = _records(frame)
    with db.engine() as engine, engine.begin() as conn:
        conn.execute(supersede, {"model": model, "start": bounds[0], "end": bounds[1], "at": superseded_at})
        for start in range(0, len(records), 10_000):
            conn.execute(table.insert(), records[start : start + 10_000])


def _records(frame: pd.DataFrame) -> list[dict]:
    plain = frame[_written(frame)].astype({c: "object" for c in TIME_COLUMNS})
    for column in TIME_COLUMNS:
        plain[column] = [value.to_pydatetime() for value in pd.to_datetime(frame[column])]
    for column in [c for c in CLASS_COLUMNS if c in plain]:  # NULL, never a NaN (MySQL refuses one)
        plain[column] = plain[column].astype(object).where(plain[column].notna(), None)
    return plain.to_dict("records")
