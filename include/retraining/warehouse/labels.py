"""The labels of served predictions, read from where they arrive (`labels:` in the model file),
for a pipeline database that is not the source's: the predictions are read there, the labels
here, and the two are joined by the caller (`tables.read_served_with_labels`).

Ids are compared as the predictions table keeps them (`id_text`). Labels with a time (the
source's own `target`, or a label table with `labels.timestamp_column`) are read for the window,
as one indexed range read; a label table without a time is read by the served ids, in batches
of `ID_BATCH`, each id bound in the label id column's own type so its index serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import pandas as pd
import sqlalchemy as sa

from include.retraining.config import ModelConfig, SourceConfig
from include.retraining.warehouse.database import Database
from include.retraining.warehouse.source import Warehouse
from include.retraining.warehouse.types import WarehouseError, id_text

# Served ids per label read when the label table has no time to window it by.
ID_BATCH = 5_000
LABEL = "label"


class LabelColumns(NamedTuple):
    """Where labels arrive: a source-like relation (a label table, or the source itself), the
    column joined with a served id (None: nothing to join on), the time joined with the served
    row's time (None: by id alone) and the label's own column."""

    source: SourceConfig
    id_column: str | None
    timestamp_column: str | None
    label: str


def label_columns(config: ModelConfig) -> LabelColumns:
    labels, source = config.labels, config.source
    if labels.table is None:
        return LabelColumns(source, source.id_column, source.timestamp_column, config.target)
    id_column = labels.id_column or source.id_column
    # A read of the label table goes through the source's read path: same timeouts and messages.
    table = source.model_copy(
        update={
            "table": labels.table,
            "query": None,
            "timestamp_column": labels.timestamp_column or source.timestamp_column,
        }
    )
    return LabelColumns(table, id_column, labels.timestamp_column, labels.column or config.target)


def check_label_table(db: Database, config: ModelConfig) -> None:
    """A missing `labels.table` is the model file's fault, named with the fix."""
    table = config.labels.table
    if table is not None and not db.has_table(table):
        raise WarehouseError(
            f"model {config.name!r}: labels.table {table!r} does not exist in the warehouse; fix `labels.table` "
            "in the model file or create the table the labels land in (it may stay empty until they arrive)"
        )


def read_labels(
    warehouse: Warehouse, config: ModelConfig, start: datetime, end: datetime, ids: Sequence[str]
) -> pd.DataFrame:
    """The labels that have arrived for served rows of start < time <= end: columns `id` (text,
    as served) and `label`, and `event_time` when labels carry a time. One row per label row:
    duplicates are the caller's to settle."""
    where = label_columns(config)
    if where.id_column is None or not len(ids):
        return pd.DataFrame({"id": pd.Series(dtype=object), LABEL: pd.Series(dtype="float64")})
    check_label_table(warehouse, config)
    if where.timestamp_column is None:
        return _labels_by_id(warehouse, config, where, ids)
    columns = [where.id_column, where.timestamp_column, where.label]
    frame = warehouse.read_window(where.source, columns, start, end, model=config.name)
    return pd.DataFrame(
        {
            "id": id_text(frame[where.id_column]).to_numpy(dtype=object),
            "event_time": frame[where.timestamp_column].astype("datetime64[ns]"),
            LABEL: label_values(config, frame[where.label]),
        }
    )


def label_values(config: ModelConfig, labels: pd.Series) -> pd.Series:
    """Labels as the metrics read them: numbers, or a multiclass model's classes as they are.

    A label that is not a number (`yes`/`no` for a model trained on 0/1) is refused, never read
    as a missing label: that would only show as coverage too low to judge, with nothing naming why."""
    if config.task == "multiclass":
        return labels
    numbers = pd.to_numeric(labels, errors="coerce")
    wrong = labels[numbers.isna() & labels.notna()]
    if len(wrong):
        where = label_columns(config)
        examples = ", ".join(repr(v) for v in list(dict.fromkeys(wrong.tolist()))[:3])
        expected = "0 or 1" if config.task == "classification" else "a number"
        raise WarehouseError(
            f"model {config.name!r}: {len(wrong)} label(s) in {where.source.table!r}.{where.label!r} are not numbers "
            f"(e.g. {examples}); a {config.task} label must be {expected}, as the training target "
            f"{config.target!r} is: map them in the warehouse (a view named in `labels.table`), or set "
            "`task: multiclass` if the labels are classes"
        )
    return numbers


def _labels_by_id(warehouse: Warehouse, config: ModelConfig, where: LabelColumns, ids: Sequence[str]) -> pd.DataFrame:
    table, id_column = str(where.source.table), str(where.id_column)
    typed = _typed_ids(warehouse, config, table, id_column, ids)
    q = warehouse.quote
    statement = sa.text(
        f"SELECT {q(id_column)} AS id, {q(where.label)} AS label FROM {q(table)} WHERE {q(id_column)} IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    values = list(typed)
    frames = [pd.DataFrame({"id": pd.Series(dtype=object), LABEL: pd.Series(dtype="float64")})]
    with warehouse.engine(where.source.statement_timeout_seconds, read_only=True) as engine, engine.connect() as conn:
        for at in range(0, len(values), ID_BATCH):
            try:
                frames.append(pd.read_sql(statement, conn, params={"ids": values[at : at + ID_BATCH]}))
            except sa.exc.ProgrammingError as exc:  # a missing column: the model file's fault
                raise WarehouseError(
                    f"model {config.name!r}: the warehouse refused the read of labels from {table!r} "
                    f"({str(exc.orig).strip().splitlines()[0]}); check `labels:` (id_column, column) in the model file"
                ) from exc
    found = pd.concat(frames, ignore_index=True)
    # Back to the served text: the database answers 21.50 for the id served as '21.5'.
    found["id"] = [typed.get(value, str(value)) for value in found["id"]]
    found[LABEL] = label_values(config, found[LABEL])
    return found


def _typed_ids(
    warehouse: Warehouse, config: ModelConfig, table: str, id_column: str, ids: Sequence[str]
) -> dict[Any, str]:
    """Each served id in the label id column's own type, mapped back to its text; an id that is
    not of that type (text served for an integer column) matches nothing and is left out."""
    kind = warehouse.column_types(table).get(id_column)
    if kind is None:
        raise WarehouseError(
            f"model {config.name!r}: labels.table {table!r} has no id column {id_column!r}; set `labels.id_column` "
            "in the model file to the column that holds the served id"
        )
    convert = _converter(kind)
    typed: dict[Any, str] = {}
    for text in dict.fromkeys(ids):
        try:
            typed[convert(text)] = text
        except (ValueError, InvalidOperation):
            continue
    return typed


def _converter(kind: sa.types.TypeEngine) -> Any:
    if isinstance(kind, sa.Integer):
        return int
    if isinstance(kind, sa.Float):
        return float
    if isinstance(kind, sa.Numeric):
        return Decimal
    return str
