"""The pipeline tables' migrations on PostgreSQL: a database written by the last release before
migrations (its `pg_dump`, made by that release's own code: tests/data/pipeline_db) upgraded in
place by workers starting at once, without losing a row."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from include.retraining.tables import schema_head
from tests.support import REPO, fresh_postgres_databases

pytestmark = pytest.mark.integration

DUMP = REPO / "tests" / "data" / "pipeline_db" / "pipeline-3315f52.sql"
# One worker's first task of the new release, as its own process.
UPGRADE = (
    "import sys; from include.retraining.tables import upgrade_schema; "
    "from include.retraining.warehouse import Database; upgrade_schema(Database(sys.argv[1]))"
)


@pytest.fixture
def old_release() -> Iterator[str]:
    with fresh_postgres_databases("retraining_migrate") as (url,):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(DUMP.read_text())
        engine.dispose()
        yield url


def _facts(url: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            count = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
            psi = conn.execute(sa.text("SELECT prediction_psi FROM model_monitoring ORDER BY window_end")).scalars()
            kind = conn.execute(
                sa.text("SELECT data_type FROM information_schema.columns WHERE column_name = 'prediction_psi'")
            ).scalar()
            indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes")).scalars())
            version = conn.execute(
                sa.text("SELECT version_num FROM retraining_alembic_version")
                if sa.inspect(conn).has_table("retraining_alembic_version")
                else sa.text("SELECT NULL")
            ).scalar()
            return {"count": count, "psi": list(psi), "type": kind, "indexes": indexes, "version": version}
    finally:
        engine.dispose()


TABLES = ("model_monitoring", "model_promotions", "churn_predictions")


def test_workers_starting_together_upgrade_the_last_release_s_database_once_without_losing_a_row(
    old_release: str,
) -> None:
    before = _facts(old_release)
    assert before["count"] == {"model_monitoring": 3, "model_promotions": 3, "churn_predictions": 5}
    assert before["type"] == "text" and before["version"] is None

    workers = [
        subprocess.Popen([sys.executable, "-c", UPGRADE, old_release], cwd=REPO, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    failures = [w.stderr.read() for w in workers if w.wait(timeout=120) != 0]

    after = _facts(old_release)
    assert failures == []
    assert after["count"] == before["count"] and after["version"] == schema_head()
    assert after["type"] == "double precision" and after["psi"] == [None, 0.02, 0.02]
    assert "ix_model_monitoring_model_window_end" in after["indexes"]
    assert {"ux_alert_outbox_alert_key", "ix_alert_outbox_status_next_attempt_at"} <= after["indexes"]
