"""The evaluate step with gate.pooled_windows > 1, against small fakes of the MLflow adapters and
a SQLite promotion log: each decision stores its evidence, the next one pools it while the same
champion's tenure lasts, a model that pools nothing never touches the evidence store, and no
stored evidence (or no logged start of the champion's tenure) means this holdout alone decides."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy

from include.retraining import retrain
from include.retraining.common import Window, as_nanoseconds
from include.retraining.promotion import HoldoutEvidence
from include.retraining.promotion.evidence import from_frame, to_frame
from include.retraining.retrain import Extracted, Trained
from include.retraining.runs import StepContext
from include.retraining.tables import PROMOTIONS_TABLE, PromotionAction, PromotionRecord, append_once
from include.retraining.tracking import StoredEvidence
from tests.unit.retrain.fakes import (
    CHALLENGER_URI,
    CHAMPION_URI,
    CONFIG,
    WINDOW,
    FakeRegistry,
    FakeTracker,
    champion,
    extracted_snapshot,
    fitted_model,
    snapshot_rows,
    step_context,
)

pytestmark = pytest.mark.unit

TRAINED_1 = Trained("run-1", "1", CHALLENGER_URI, reused=False)
POOLING = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"pooled_windows": 2})})
# Version 2 became champion; the decisions against it are made a day later.
PROMOTED = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def data() -> pd.DataFrame:
    return snapshot_rows()


@pytest.fixture
def model() -> Any:
    return fitted_model()


@pytest.fixture
def extracted(data: pd.DataFrame, tmp_path: Path) -> Extracted:
    return extracted_snapshot(data, tmp_path / "artifacts")


@dataclass
class FakeEvidence:
    """The tracker's evidence store in memory: `logged` holds each stored frame read back as the
    evidence it was, with its run's start time, as the MLflow store hands it back. Every run here
    trains with the same recipe, so the config hash is not filtered on."""

    logged: list[HoldoutEvidence] = field(default_factory=list)
    cutoff: int | None = as_nanoseconds(WINDOW.start)
    now: datetime = PROMOTED + timedelta(days=1)

    def log(self, run_id: str, compared_with: str, frame: pd.DataFrame) -> None:
        self.logged.append(from_frame(frame, run_id, compared_with, "", as_nanoseconds(self.now)))

    def earlier(self, experiment_id: str, compared_with: str, config_hash: str, limit: int) -> list[StoredEvidence]:
        found = [e for e in self.logged if e.compared_with == compared_with][:limit]
        return [StoredEvidence(e.run_id, to_frame(e), e.started_at) for e in found]

    def training_cutoff(self, run_id: str) -> int | None:
        return self.cutoff


@dataclass
class PoolingTracker(FakeTracker):
    evidence: FakeEvidence = field(default_factory=FakeEvidence)


def _moved(ctx: StepContext, to: str, at: datetime, action: PromotionAction = PromotionAction.PROMOTE) -> None:
    """A move of `champion` in the promotion log, as promotion and rollback write it."""
    append_once(ctx.pipeline_db, PromotionRecord(CONFIG.name, to, action, "test", at=at))


def _snapshot(frame: pd.DataFrame, tmp_path: Path, end: pd.Timestamp) -> Extracted:
    window = Window(WINDOW.start, (end.tz_localize("UTC") if end.tz is None else end).to_pydatetime())
    return extracted_snapshot(frame[frame["snapshot_at"] <= end], tmp_path / "artifacts", window)


def test_the_second_decision_pools_the_first_ones_older_rows(tmp_path: Path, data, model: Any) -> None:
    tracker = PoolingTracker({CHALLENGER_URI: model, CHAMPION_URI: model})
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=POOLING)
    _moved(ctx, "2", PROMOTED)
    late = pd.Timestamp(data["snapshot_at"].max())
    week_before = _snapshot(data, tmp_path, late - pd.Timedelta(days=7))

    first, _ = retrain.evaluate(ctx, week_before, TRAINED_1)
    second, _ = retrain.evaluate(ctx, _snapshot(data, tmp_path, late), Trained("run-2", "1", CHALLENGER_URI, False))

    assert first.pooled is None, "no earlier evidence: this holdout alone decides"
    assert [e.run_id for e in tracker.evidence.logged] == ["run-1", "run-2"]
    assert second.pooled["windows"] == 2 and second.pooled["run_ids"] == ["run-2", "run-1"]
    current = tracker.evidence.logged[1]
    assert second.pooled["rows_per_window"][0] == current.rows
    older = tracker.evidence.logged[0]
    assert second.pooled["rows_per_window"][1] == int((older.timestamps < current.timestamps.min()).sum())
    assert second.interval["rows"] == second.pooled["rows"] and "pooled" in second.reason
    assert "pooled" in second.figures()
    assert tracker.evaluations[-1][1]["gate_pooled_windows"] == 2


def test_without_the_champions_training_cutoff_nothing_earlier_is_pooled(tmp_path: Path, extracted, model) -> None:
    tracker = PoolingTracker({CHALLENGER_URI: model, CHAMPION_URI: model}, evidence=FakeEvidence(cutoff=None))
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=POOLING)
    retrain.evaluate(ctx, extracted, TRAINED_1)
    first = tracker.evidence.logged[0]
    tracker.evidence.logged[0] = replace(first, run_id="run-0", timestamps=first.timestamps - 10**15)  # a week before

    evaluated, _ = retrain.evaluate(ctx, extracted, TRAINED_1)

    assert evaluated.pooled is None and evaluated.interval["rows"] == tracker.evidence.logged[-1].rows


def test_a_model_that_pools_nothing_never_reads_or_writes_evidence(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: model})  # no evidence store at all
    evaluated, _ = retrain.evaluate(step_context(tmp_path, tracker, FakeRegistry(champion("2"))), extracted, TRAINED_1)
    assert evaluated.pooled is None and evaluated.compared_with == "2"


def _two_decisions(ctx: StepContext, tracker: PoolingTracker, data: pd.DataFrame, tmp_path: Path, between) -> Any:
    """A decision a week before the latest snapshot, `between()`, then one on the latest."""
    late = pd.Timestamp(data["snapshot_at"].max())
    retrain.evaluate(ctx, _snapshot(data, tmp_path, late - pd.Timedelta(days=7)), TRAINED_1)
    between()
    evaluated, _ = retrain.evaluate(ctx, _snapshot(data, tmp_path, late), Trained("run-2", "1", CHALLENGER_URI, False))
    return evaluated


def test_after_a_rollback_to_the_champion_its_decisions_from_before_are_not_pooled(
    tmp_path: Path, data, model, caplog
) -> None:
    tracker = PoolingTracker({CHALLENGER_URI: model, CHAMPION_URI: model})
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=POOLING)
    _moved(ctx, "2", PROMOTED)

    def replaced_and_rolled_back() -> None:
        _moved(ctx, "3", PROMOTED + timedelta(days=30))
        _moved(ctx, "2", PROMOTED + timedelta(days=90), PromotionAction.ROLLBACK)
        tracker.evidence.now = PROMOTED + timedelta(days=91)

    second = _two_decisions(ctx, tracker, data, tmp_path, replaced_and_rolled_back)

    assert [e.compared_with for e in tracker.evidence.logged] == ["2", "2"]
    assert second.pooled is None and second.interval["rows"] == tracker.evidence.logged[-1].rows
    assert "made before its current tenure as champion: not pooled" in caplog.text


def test_a_champion_the_promotion_log_never_saw_become_champion_pools_nothing_earlier(
    tmp_path: Path, data, model, caplog
) -> None:
    tracker = PoolingTracker({CHALLENGER_URI: model, CHAMPION_URI: model})
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=POOLING)  # no move logged

    second = _two_decisions(ctx, tracker, data, tmp_path, lambda: None)

    assert second.pooled is None and second.interval["rows"] == tracker.evidence.logged[-1].rows
    assert "does not show when version 2's current tenure as champion began" in caplog.text


def test_an_error_reading_the_promotion_log_fails_evaluate_instead_of_pooling(tmp_path: Path, extracted, model) -> None:
    tracker = PoolingTracker({CHALLENGER_URI: model, CHAMPION_URI: model})
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=POOLING)
    with sqlite3.connect(tmp_path / "warehouse.db") as conn:  # a table of that name, not the log's
        conn.execute(f"CREATE TABLE {PROMOTIONS_TABLE} (other INTEGER)")

    with pytest.raises(sqlalchemy.exc.OperationalError, match="no such column"):
        retrain.evaluate(ctx, extracted, TRAINED_1)

    assert tracker.evidence.logged == [], "no decision was made, so none was stored"
