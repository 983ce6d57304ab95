"""The `labels:` section: where the labels of served predictions arrive, and how many must have.

Labels come after the predictions. By default they are the `target` column of the source table
itself, filled in later, joined to a served prediction by `source.id_column` and the source
timestamp. A separate label table (`table`) is joined by its id column (and its timestamp column
when it has one). The monitor computes performance on served predictions only where at least
`min_coverage` of them have a label (docs/decisions.md); the others are counted, never an error.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from include.retraining.config.base import Strict, check_identifier


class LabelsConfig(Strict):
    table: str | None = None
    id_column: str | None = None
    timestamp_column: str | None = None
    column: str | None = None
    min_coverage: float = Field(0.5, gt=0.0, le=1.0)

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None:
            parts = value.split(".")
            if len(parts) > 2:
                raise ValueError(f"labels.table {value!r}: use `table` or `schema.table`")
            for part in parts:
                check_identifier(part, "labels.table part")
        return value

    @field_validator("id_column", "timestamp_column", "column")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        return value if value is None else check_identifier(value, "labels column")


def label_problems(labels: LabelsConfig, source_id_column: str | None) -> list[str]:
    """What makes the labels impossible to join to served predictions, each with its fix."""
    problems = []
    if labels.table is None and (labels.id_column or labels.timestamp_column):
        problems.append("labels.id_column and labels.timestamp_column need labels.table (a separate label table)")
    if labels.table is not None and not (labels.id_column or source_id_column):
        problems.append("labels.table needs an id to join on: set labels.id_column or source.id_column")
    if labels.table is None and labels.column is not None:
        problems.append("labels.column names a column of labels.table; without a label table the label is `target`")
    return problems
