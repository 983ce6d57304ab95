"""The monitor's `auto_rollback` task, against fakes: it reads the matured rows, scores the
champion on its own features and the previous champion beside it, and hands both to the
promotion package, which rolls back on a real regression only, and never twice in a row. What
it cannot judge (too few matured rows, one class, an unusable previous champion) is a NoRollback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from include.retraining.common import Window
from include.retraining.monitor import CurrentWindow, Reference
from include.retraining.monitor.rollback import auto_rollback
from include.retraining.rollback import NoRollback
from include.retraining.tables import PromotionAction, history
from include.retraining.tracking import UnusableModelError
from tests.unit.promotion.fakes import GOOD, SIGNAL_FEATURES, Scorer, auto_rollback_context, signal_rows

pytestmark = pytest.mark.unit

WINDOW = Window(datetime(2026, 3, 16, 2, tzinfo=UTC), datetime(2026, 3, 23, 2, tzinfo=UTC))
REF = Reference(version="2", run_id="run-2", snapshot="", holdout_metric=0.8, features=SIGNAL_FEATURES)
WORSE = Scorer({"signal": 0.3, "noise_a": 1.0}, SIGNAL_FEATURES)


def _current(tmp_path: Path, frame: pd.DataFrame) -> CurrentWindow:
    path = tmp_path / "matured.parquet"
    frame.to_parquet(path)
    rows = len(frame)
    return CurrentWindow(WINDOW, WINDOW, str(path), str(path), rows, rows, rows, rows)


def test_a_significant_regression_rolls_back_once_and_logs_it(tmp_path: Path) -> None:
    ctx, registry = auto_rollback_context(tmp_path, champion=WORSE, previous=Scorer(GOOD, SIGNAL_FEATURES))
    cur = _current(tmp_path, signal_rows())

    done = auto_rollback(ctx, REF, cur)

    assert registry.aliases == {"champion": "1", "previous_champion": "2"}
    (row,) = history(ctx.pipeline_db, "churn")
    assert row.action is PromotionAction.AUTO_ROLLBACK and row.actor == "scheduler" and done.log_id == row.id
    assert row.reason.startswith("automatic rollback: previous_champion version 1 vs champion version 2")
    assert row.figures["rows"] == 3000 and row.figures["matured_window"] == WINDOW.to_dict()

    # Version 1 now serves and version 2 is previous_champion: not before a new promotion.
    with pytest.raises(NoRollback, match="last move of champion was a auto_rollback"):
        auto_rollback(ctx, Reference("1", "run-1", "", 0.8, SIGNAL_FEATURES), cur)
    assert registry.moves == ["1"]


def test_noise_between_equally_good_models_never_rolls_back(tmp_path: Path) -> None:
    champion = Scorer({"signal": 1.5, "noise_a": 0.2}, SIGNAL_FEATURES)
    previous = Scorer({"signal": 1.5, "noise_b": 0.2}, SIGNAL_FEATURES)
    ctx, registry = auto_rollback_context(tmp_path, champion, previous)

    with pytest.raises(NoRollback, match="no automatic rollback: previous_champion version 1"):
        auto_rollback(ctx, REF, _current(tmp_path, signal_rows(seed=2)))

    assert registry.moves == [] and history(ctx.pipeline_db, "churn") == []


def test_off_by_default_and_nothing_to_compare_with(tmp_path: Path) -> None:
    previous = Scorer(GOOD, SIGNAL_FEATURES)
    ctx, _ = auto_rollback_context(tmp_path, WORSE, previous, on=False)
    with pytest.raises(NoRollback, match="monitor.auto_rollback is off"):
        auto_rollback(ctx, REF, _current(tmp_path, signal_rows()))
    ctx, registry = auto_rollback_context(tmp_path, WORSE, previous)
    del registry.aliases["previous_champion"]
    with pytest.raises(NoRollback, match="no previous_champion"):
        auto_rollback(ctx, REF, _current(tmp_path, signal_rows()))
    assert registry.moves == []


@pytest.mark.parametrize("rows", ["too few", "one class", "unlabelled"])
def test_matured_rows_it_cannot_judge_on_roll_nothing_back(tmp_path: Path, rows: str) -> None:
    ctx, registry = auto_rollback_context(tmp_path, WORSE, Scorer(GOOD, SIGNAL_FEATURES))
    frame = signal_rows()
    if rows == "too few":
        frame = frame.head(ctx.config.monitor.min_rows - 1)
    elif rows == "one class":
        frame["churned"] = 0
    else:
        frame["churned"] = None  # labels not arrived yet: dropped before anything is counted

    with pytest.raises(NoRollback, match="matured rows .one class or < monitor.min_rows"):
        auto_rollback(ctx, REF, _current(tmp_path, frame))
    assert registry.moves == []


def test_an_unusable_previous_champion_rolls_nothing_back(tmp_path: Path) -> None:
    ctx, registry = auto_rollback_context(tmp_path, WORSE, UnusableModelError("model.skops: BadZipFile"))

    with pytest.raises(NoRollback, match="previous_champion version 1 is unusable: model.skops: BadZipFile"):
        auto_rollback(ctx, REF, _current(tmp_path, signal_rows()))
    assert registry.moves == [] and history(ctx.pipeline_db, "churn") == []


def test_the_champion_is_scored_on_the_reference_features_not_the_frames(tmp_path: Path) -> None:
    ctx, registry = auto_rollback_context(tmp_path, WORSE, Scorer(GOOD, SIGNAL_FEATURES))
    frame = signal_rows()
    frame.insert(0, "added_since", 1.0)  # a column the champion was not fitted on (the Scorer refuses it)

    auto_rollback(ctx, REF, _current(tmp_path, frame))

    assert registry.aliases["champion"] == "1"
