"""The `source:` section: where a model's rows come from (an Airflow connection and a table or
one SELECT), which column orders them in time and which identifies them."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from include.retraining.config.base import Strict, check_identifier, check_select, check_table


class SourceConfig(Strict):
    conn_id: str = "warehouse"
    table: str | None = None
    query: str | None = None
    timestamp_column: str
    id_column: str | None = None
    # A hung or runaway warehouse read must not hold the model's only run slot forever.
    statement_timeout_seconds: int = Field(900, gt=0, le=86_400)
    # Rows whose timestamp is NULL (or, as text, not a time) belong to no window: up to this share
    # of the source they are counted and logged, above it a read stops (a load that lost its times).
    max_null_timestamp_share: float = Field(0.01, ge=0.0, le=1.0)

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, value: str | None) -> str | None:
        return value if value is None else check_table(value)

    @field_validator("query")
    @classmethod
    def _single_select(cls, value: str | None) -> str | None:
        return value if value is None else check_select(value)

    @field_validator("timestamp_column", "id_column")
    @classmethod
    def _column_identifier(cls, value: str | None) -> str | None:
        return value if value is None else check_identifier(value, "column")

    @model_validator(mode="after")
    def _table_xor_query(self) -> SourceConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("set exactly one of `table` or `query`")
        return self
