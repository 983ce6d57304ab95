"""The promotion log on a real PostgreSQL database: BIGSERIAL ids, JSON figures, UTC times,
and the table created on first write. The alias moves that write it: test_rollback_dag.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from include.retraining.tables import PromotionAction, PromotionRecord
from include.retraining.tables import promotions as promotion_log
from include.retraining.warehouse import Database

pytestmark = pytest.mark.integration


def test_the_log_on_postgres(postgres_warehouse: str) -> None:
    db = Database(postgres_warehouse)
    assert promotion_log.latest(db, "churn") is None
    at = datetime(2026, 3, 1, 7, tzinfo=timezone(timedelta(hours=-5)))  # 12:00 UTC

    first = promotion_log.append(
        db, PromotionRecord("churn", "1", PromotionAction.PROMOTE, "first model", figures={"roc_auc": 0.8}, at=at)
    )
    second = promotion_log.append(
        db, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate passed", from_version="1")
    )

    rows = promotion_log.history(db, "churn")
    assert [r.id for r in rows] == [second.id, first.id]
    assert rows[1].at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert rows[1].figures == {"roc_auc": 0.8}
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        kinds = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'model_promotions'"
                )
            ).all()
        )
    assert kinds["id"] == "bigint" and kinds["figures"] == "json"
    assert kinds["at"] == "timestamp without time zone"
