"""`promotion_outcomes`: one row per promotion, the gate's promise checked against the matured
labels of the first window after the new champion's training data.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# A naive UTC time to the microsecond (MySQL's DATETIME keeps whole seconds unless told).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

TABLE = "promotion_outcomes"
INDEX = "ix_promotion_outcomes_model_promotion_id"
FLOATS = ("promised_difference", "promised_lower", "realized_difference", "realized_lower", "realized_upper")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("promotion_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("from_version", sa.Text(), nullable=False),
        sa.Column("to_version", sa.Text(), nullable=False),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Double(), nullable=name.startswith("promised")) for name in FLOATS),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("bound_held", sa.Boolean(), nullable=True),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("airflow_run_id", sa.Text(), nullable=False),
        sa.Column("verified_at", TIMESTAMP, nullable=False),
    )
    op.create_index(INDEX, TABLE, ["model", "promotion_id"], mysql_length={"model": 191})
