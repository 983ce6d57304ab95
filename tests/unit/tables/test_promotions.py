"""The promotion log on SQLite: append-only rows, newest first, JSON figures, retries written once.
The same on PostgreSQL: tests/integration/test_promotion_log_postgres.py."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from include.retraining.tables import promotions as promotion_log
from include.retraining.tables.promotions import PromotionAction, PromotionRecord
from include.retraining.warehouse import Database, WarehouseError

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _record(to_version: str, action: PromotionAction = PromotionAction.PROMOTE, **extra) -> PromotionRecord:
    return PromotionRecord(model="churn", to_version=to_version, action=action, reason="gate passed", **extra)


def test_an_empty_log_has_no_history_and_no_latest(db: Database) -> None:
    assert promotion_log.history(db, "churn") == []
    assert promotion_log.latest(db, "churn") is None


def test_append_creates_the_table_and_returns_the_stored_row(db: Database) -> None:
    figures = {"metric": "roc_auc", "challenger_value": np.float64(0.81), "interval": {"lower": float("nan")}}

    stored = promotion_log.append(db, _record("2", from_version="1", figures=figures, at=AT, run_url="http://x"))

    assert stored.id == 1 and stored.at == AT
    [read] = promotion_log.history(db, "churn")
    assert read == stored
    assert read.figures == {"metric": "roc_auc", "challenger_value": 0.81, "interval": {"lower": None}}
    assert read.actor == "scheduler" and read.action is PromotionAction.PROMOTE


def test_history_is_newest_first_per_model_and_limited(db: Database) -> None:
    promotion_log.append(db, _record("1"))
    promotion_log.append(db, _record("2", from_version="1"))
    promotion_log.append(db, PromotionRecord("other", "9", PromotionAction.PROMOTE, "x"))
    promotion_log.append(db, _record("1", PromotionAction.ROLLBACK, from_version="2", actor="alice"))

    rows = promotion_log.history(db, "churn")
    assert [(r.to_version, r.action) for r in rows] == [
        ("1", PromotionAction.ROLLBACK),
        ("2", PromotionAction.PROMOTE),
        ("1", PromotionAction.PROMOTE),
    ]
    assert [r.to_version for r in promotion_log.history(db, "churn", limit=1)] == ["1"]
    assert promotion_log.latest(db, "churn").actor == "alice"
    assert promotion_log.latest(db, "other").to_version == "9"


def test_append_once_writes_a_retried_move_once(db: Database) -> None:
    first = promotion_log.append_once(db, _record("2", from_version="1", run_url="http://run/a"))
    again = promotion_log.append_once(db, _record("2", from_version="1", run_url="http://run/a"))
    other_run = promotion_log.append_once(db, _record("2", from_version="1", run_url="http://run/b"))

    assert again == first
    assert other_run.id == first.id + 1


def test_a_custom_table_name_and_a_bad_one(db: Database) -> None:
    promotion_log.append(db, _record("1"), table="audit_promotions")
    assert promotion_log.history(db, "churn") == []
    assert len(promotion_log.history(db, "churn", table="audit_promotions")) == 1
    with pytest.raises(WarehouseError, match="not a valid SQL identifier"):
        promotion_log.append(db, _record("1"), table="x; drop table y")


def test_figures_that_are_not_json_are_refused_by_name(db: Database) -> None:
    with pytest.raises(WarehouseError, match="figure .* is not JSON"):
        promotion_log.append(db, _record("1", figures={"model": object()}))
