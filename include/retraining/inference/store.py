"""Where the inference log's rows go: appended to the model's predictions table (its definition
and upkeep are `tables`'), one transaction per batch. On PostgreSQL by ADBC's bulk ingest (binary
COPY, mostly off the GIL: the writer shares its process with the requests, and SQLAlchemy's
executemany held the interpreter tens of ms per 1,000 rows); elsewhere by SQLAlchemy."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from include.retraining.predictions import (
    ANSWERED,
    CLASS_COLUMNS,
    PREDICTION_ARROW_SCHEMA,
    ensure_predictions_table,
    predictions_definition,
)
from include.retraining.warehouse import WRITE_TIMEOUT_S, Database

# The contract's columns, the columns only REST rows fill and a multiclass model's class columns
# (`predictions/table.py` adds them to the table).
APPENDED_SCHEMA = pa.schema(
    [*PREDICTION_ARROW_SCHEMA, ("source", pa.string()), ("features", pa.string()), (ANSWERED, pa.bool_())]
    + [(c, pa.string()) for c in CLASS_COLUMNS]
)


class PredictionAppender:
    """Appends rows, given as columns (the contract's, `source`, `features`, `answered` and the class
    columns), to one table."""

    def __init__(self, db: Database, name: str) -> None:
        self._db, self._name, self._ready = db, name, False
        self._insert = predictions_definition(name).insert()
        self._engine_context = db.engine()
        self._engine = self._engine_context.__enter__()

    def append(self, columns: dict[str, list[Any]]) -> None:
        if not self._ready:  # on the first write, not at start: a server starts while the database is down
            ensure_predictions_table(self._db, self._name)
            self._ready = True
        if self._db.is_postgres:
            schema, _, table = self._name.rpartition(".")
            rows = pa.Table.from_pydict(columns, schema=APPENDED_SCHEMA)
            with self._db.adbc(WRITE_TIMEOUT_S, read_only=False) as conn:
                with conn.cursor() as cursor:
                    cursor.adbc_ingest(table, rows, mode="append", db_schema_name=schema or None)
                conn.commit()
            return
        records = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        with self._engine.begin() as conn:
            conn.execute(self._insert, records)

    def close(self) -> None:
        self._engine_context.__exit__(None, None, None)
