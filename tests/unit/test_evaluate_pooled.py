"""The evaluate step with gate.pooled_windows > 1, against small fakes of the MLflow adapters:
each decision stores its evidence, the next one pools it, a model that pools nothing never
touches the evidence store, and no stored evidence means this holdout alone decides."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from include.retraining import retrain_steps
from include.retraining.gate_evidence import HoldoutEvidence
from include.retraining.retrain_contracts import Extracted, Trained
from include.retraining.snapshots import write_snapshot
from include.retraining.tracking_evidence import as_nanoseconds
from include.retraining.windows import Window
from tests.unit import test_retrain_steps as steps
from tests.unit.test_retrain_steps import (
    CHALLENGER_URI,
    CHAMPION_URI,
    CONFIG,
    WINDOW,
    FakeRegistry,
    FakeTracker,
    _champion,
    _ctx,
)

pytestmark = pytest.mark.unit

# The same module-scoped snapshot and fitted model as the other retrain step tests.
data, model, extracted = steps.data, steps.model, steps.extracted

TRAINED_1 = Trained("run-1", "1", CHALLENGER_URI, reused=False)
POOLING = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"pooled_windows": 2})})


@dataclass
class FakeEvidence:
    logged: list[HoldoutEvidence] = field(default_factory=list)
    cutoff: int | None = as_nanoseconds(WINDOW.start)

    def log(self, evidence: HoldoutEvidence) -> None:
        self.logged.append(evidence)

    def earlier(self, experiment_id: str, compared_with: str, config_hash: str, limit: int) -> list:
        return [e for e in self.logged if (e.compared_with, e.config_hash) == (compared_with, config_hash)][:limit]

    def training_cutoff(self, run_id: str) -> int | None:
        return self.cutoff


@dataclass
class PoolingTracker(FakeTracker):
    evidence: FakeEvidence = field(default_factory=FakeEvidence)


def _snapshot(frame: pd.DataFrame, tmp_path: Path, end: pd.Timestamp) -> Extracted:
    window = Window(WINDOW.start, (end.tz_localize("UTC") if end.tz is None else end).to_pydatetime())
    snapshot = write_snapshot(frame[frame["snapshot_at"] <= end], tmp_path / "artifacts", CONFIG.name, window)
    return Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, window)


def test_the_second_decision_pools_the_first_ones_older_rows(tmp_path: Path, data, model: Any) -> None:
    tracker = PoolingTracker({CHALLENGER_URI: model, CHAMPION_URI: model})
    ctx = _ctx(tmp_path, tracker, FakeRegistry(_champion("2")), config=POOLING)
    late = pd.Timestamp(data["snapshot_at"].max())
    week_before = _snapshot(data, tmp_path, late - pd.Timedelta(days=7))

    first, _ = retrain_steps.evaluate(ctx, week_before, TRAINED_1)
    second, _ = retrain_steps.evaluate(
        ctx, _snapshot(data, tmp_path, late), Trained("run-2", "1", CHALLENGER_URI, False)
    )

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
    ctx = _ctx(tmp_path, tracker, FakeRegistry(_champion("2")), config=POOLING)
    retrain_steps.evaluate(ctx, extracted, TRAINED_1)
    first = tracker.evidence.logged[0]
    tracker.evidence.logged[0] = replace(first, run_id="run-0", timestamps=first.timestamps - 10**15)  # a week before

    evaluated, _ = retrain_steps.evaluate(ctx, extracted, TRAINED_1)

    assert evaluated.pooled is None and evaluated.interval["rows"] == tracker.evidence.logged[-1].rows


def test_a_model_that_pools_nothing_never_reads_or_writes_evidence(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: model})  # no evidence store at all
    evaluated, _ = retrain_steps.evaluate(_ctx(tmp_path, tracker, FakeRegistry(_champion("2"))), extracted, TRAINED_1)
    assert evaluated.pooled is None and evaluated.compared_with == "2"
