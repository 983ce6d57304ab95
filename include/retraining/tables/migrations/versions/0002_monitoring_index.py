"""An index on `model_monitoring (model, window_end)`: every history read, trigger mark and
replace of a row selects by both, and the table had none.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEX = "ix_model_monitoring_model_window_end"


def upgrade() -> None:
    indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("model_monitoring")}
    if INDEX not in indexes:
        op.create_index(INDEX, "model_monitoring", ["model", "window_end"], mysql_length={"model": 191})
