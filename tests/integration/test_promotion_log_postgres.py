"""The promotion log on a real PostgreSQL database: BIGSERIAL ids, JSON figures, UTC times,
and the table created on first write. The alias moves that write it: test_rollback_dag.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from include.retraining.tables import promotions as promotion_log
from include.retraining.tables.promotions import PromotionAction, PromotionRecord

pytestmark = pytest.mark.integration


def test_the_log_on_postgres(postgres_warehouse: str) -> None:
    url = postgres_warehouse
    assert promotion_log.latest(url, "churn") is None
    at = datetime(2026, 3, 1, 7, tzinfo=timezone(timedelta(hours=-5)))  # 12:00 UTC

    first = promotion_log.append(
        url, PromotionRecord("churn", "1", PromotionAction.PROMOTE, "first model", figures={"roc_auc": 0.8}, at=at)
    )
    second = promotion_log.append(
        url, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "gate passed", from_version="1")
    )

    rows = promotion_log.history(url, "churn")
    assert [r.id for r in rows] == [second.id, first.id]
    assert rows[1].at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert rows[1].figures == {"roc_auc": 0.8}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'model_promotions'"
                )
            ).all()
        )
    engine.dispose()
    assert kinds["id"] == "bigint" and kinds["figures"] == "json"
    assert kinds["at"] == "timestamp without time zone"
