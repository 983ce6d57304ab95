"""The alert outbox as a table, `alert_outbox`, in place of the JSON-lines file every worker
re-read whole: one row per alert (per dedup key), its delivery state updated in place.

`alert_key` is unique, so a retried task records nothing twice; `(status, next_attempt_at)`
serves the flush's "pending and due" query and `(status, updated_at)` the retention's prune, so
neither reads the delivered history. The definition is a copy frozen at this revision: it never
imports the live one (tables/alert_outbox.py).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A naive UTC time to the microsecond (MySQL's DATETIME keeps whole seconds unless told).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

TABLE = "alert_outbox"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        # A bounded string, not text: MySQL indexes no TEXT column whole.
        sa.Column("alert_key", sa.String(255), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("conn_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_to", sa.String(64), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ux_alert_outbox_alert_key", TABLE, ["alert_key"], unique=True)
    op.create_index("ix_alert_outbox_status_next_attempt_at", TABLE, ["status", "next_attempt_at"])
    op.create_index("ix_alert_outbox_status_updated_at", TABLE, ["status", "updated_at"])
