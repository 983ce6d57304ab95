"""The `scoring:` section: how `score_<model>` scores new rows with the champion (and a shadow
challenger) and where the predictions go. A model file without it gets no scoring DAG."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from include.retraining.config.base import Strict, check_cron, check_select, check_table
from include.retraining.config.source import SourceConfig


class ScoringConfig(Strict):
    """Where each default comes from: docs/decisions.md, "Batch scoring"."""

    # The rows to score; both empty: the model's `source` (same connection, timestamp and id).
    table: str | None = None
    query: str | None = None
    # Each run scores the rows of one interval of this cron's grid: (previous fire, fire].
    schedule: str = "@daily"
    # Empty: `<model>_predictions`, in the warehouse of `source.conn_id`.
    output_table: str | None = None
    shadow: bool = False
    # impute: the pipeline's own imputation (numeric median plus a missing indicator, categorical
    # `__missing__`); fail: any null in a feature stops the run with an alert, nothing written.
    nulls: Literal["impute", "fail"] = "impute"
    # score: an unseen category joins the encoder's infrequent bucket (native encoding: scored as
    # a missing value); fail: stop with an alert.
    unseen_categories: Literal["score", "fail"] = "score"

    @field_validator("table", "output_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        return value if value is None else check_table(value)

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        return value if value is None else check_select(value)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @model_validator(mode="after")
    def _table_or_query(self) -> ScoringConfig:
        if self.table is not None and self.query is not None:
            raise ValueError("scoring: set at most one of `table` or `query` (neither: the model's source)")
        return self

    def source_for(self, source: SourceConfig) -> SourceConfig:
        """The model's source with this section's table or query in its place, if one is set."""
        if self.table is None and self.query is None:
            return source
        return source.model_copy(update={"table": self.table, "query": self.query})
