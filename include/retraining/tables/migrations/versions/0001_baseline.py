"""The pipeline's tables as releases before migrations left them, adopted in place.

A database written before this revision has `model_promotions` (made from its SQLAlchemy
definition) and `model_monitoring` (made by pandas from the first row written, then given each
newer column when a row first carried it): both are kept with every row, the columns a table
lacks are added, nullable, and a number column pandas typed as text (its first row had no value)
becomes a number. A new database gets both tables whole. The definitions are copies frozen at
this revision: a revision never imports the live ones (`monitoring_table()`, promotions.py),
which later revisions change.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A naive UTC time to the microsecond (MySQL's DATETIME keeps whole seconds unless told).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

MONITORING_COLUMNS = {
    "model": sa.Text(),
    "window_start": TIMESTAMP,
    "window_end": TIMESTAMP,
    "airflow_run_id": sa.Text(),
    "champion_version": sa.Text(),
    "rows_current": sa.BigInteger(),
    "rows_matured": sa.BigInteger(),
    "rows_current_read": sa.BigInteger(),
    "rows_matured_read": sa.BigInteger(),
    "sampled": sa.Boolean(),
    "drift_share": sa.Double(),
    "drifted_columns": sa.Text(),
    "prediction_psi": sa.Double(),
    "metric": sa.Text(),
    "metric_holdout": sa.Double(),
    "metric_current": sa.Double(),
    "performance_drop": sa.Double(),
    "drift_detected": sa.Boolean(),
    "decision": sa.Text(),
    "reasons": sa.Text(),
    "report_path": sa.Text(),
    "prediction_source": sa.Text(),
    "performance_source": sa.Text(),
    "rows_served": sa.BigInteger(),
    "label_coverage": sa.Double(),
    "challenger_version": sa.Text(),
    "challenger_metric": sa.Double(),
    "champion_shadow_metric": sa.Double(),
    "served_figures": sa.Text(),
    "drift_signature": sa.Text(),
    "mlflow_run_id": sa.Text(),
}
MONITORING_REQUIRED = {"model", "window_end"}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("model_promotions"):
        op.create_table(
            "model_promotions",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("model", sa.Text(), nullable=False),
            sa.Column("from_version", sa.Text(), nullable=True),
            sa.Column("to_version", sa.Text(), nullable=False),
            sa.Column("action", sa.Text(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("figures", sa.JSON(), nullable=True),
            sa.Column("actor", sa.Text(), nullable=False),
            sa.Column("run_url", sa.Text(), nullable=False),
            sa.Column("at", TIMESTAMP, nullable=False),
        )
        op.create_index(
            "ix_model_promotions_model_id", "model_promotions", ["model", "id"], mysql_length={"model": 191}
        )
    if not inspector.has_table("model_monitoring"):
        op.create_table(
            "model_monitoring",
            *(sa.Column(n, kind, nullable=n not in MONITORING_REQUIRED) for n, kind in MONITORING_COLUMNS.items()),
        )
        return
    present = {column["name"]: column["type"] for column in inspector.get_columns("model_monitoring")}
    for name, kind in MONITORING_COLUMNS.items():
        if name not in present:
            op.add_column("model_monitoring", sa.Column(name, kind, nullable=True))
    # pandas typed a column from the first row it wrote: a number that row left empty became text.
    texts = [n for n, kind in MONITORING_COLUMNS.items() if _is_text(present.get(n)) and not _is_text(kind)]
    if texts:
        # SQLite cannot change a column's type: batch mode copies the table, every row with it.
        with op.batch_alter_table("model_monitoring") as batch:
            for name in texts:
                kind = MONITORING_COLUMNS[name]
                using = f"CAST(NULLIF({name}, '') AS {kind.compile(dialect=op.get_bind().dialect)})"
                batch.alter_column(name, existing_type=sa.Text(), type_=kind, postgresql_using=using)


def _is_text(kind: object) -> bool:
    return isinstance(kind, sa.String)
