"""Unit tests for include.retraining.monitor.evidence: the trigger policy's evidence of a window,
weighted by the (fake) champion's own sensitivity, and the history of earlier runs read from a
real SQLite `model_monitoring`, including a table written before the drift signature existed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import load_model_config
from include.retraining.drift import SeasonalEvidence, WindowRecord
from include.retraining.monitor.champion import ChampionScorer
from include.retraining.monitor.evidence import drift_evidence_for, history
from include.retraining.tables import MONITORING_TABLE, upgrade_schema
from include.retraining.warehouse import Database
from tests.unit.monitor.fakes import CHURN, END, FakeModel, FakeTracker, context, frame, ref, sqlite_url

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config():
    return load_model_config(CHURN)


def _rows(config, n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Source rows, monthly_charges moved by `shift` (its SD is 10), categories drawn alike."""
    rows = frame(pd.Series(pd.date_range("2026-03-01", periods=n, freq="min")), config.features.columns, seed=seed)
    rng = np.random.default_rng(seed + 100)
    return rows.assign(
        monthly_charges=rows["monthly_charges"] + shift,
        payment_method=rng.choice(["card", "bank", "check"], n),
        region=rng.choice(["north", "south", "east", "west"], n),
    )


def test_the_evidence_weighs_each_column_by_what_the_champion_scores(config):
    # The fake champion scores monthly_charges alone: all of its sensitivity is there.
    champion = ChampionScorer(
        context(config, tracker=FakeTracker(FakeModel(["monthly_charges"]))), ref(["monthly_charges"])
    )
    reference, current = _rows(config, 5000, 1), _rows(config, 3000, 2, shift=5.0)

    found = drift_evidence_for(config, champion, reference, current)

    assert sorted(found.columns) == sorted(config.features.columns) and found.champion_version == "3"
    assert found.columns["monthly_charges"].importance == pytest.approx(1.0)
    assert found.drifted == ["monthly_charges"] and found.weighted_drift == pytest.approx(0.5, abs=0.1)
    assert (found.n_reference, found.n_current, found.seasonal) == (5000, 3000, SeasonalEvidence())


def test_a_shift_the_seasonal_reference_shares_is_not_counted(config):
    champion = ChampionScorer(
        context(config, tracker=FakeTracker(FakeModel(["monthly_charges"]))), ref(["monthly_charges"])
    )
    reference, current = _rows(config, 5000, 1), _rows(config, 3000, 2, shift=5.0)
    season_ago = _rows(config, 3000, 3, shift=5.0)

    found = drift_evidence_for(config, champion, reference, current, season_ago, SeasonalEvidence("season_ago", 3000))

    assert found.drifted == [] and found.seasonal_masked == ["monthly_charges"]
    assert found.seasonal == SeasonalEvidence("season_ago", 3000)


def test_history_reads_an_old_table_and_a_signature_column_added_later(config, tmp_path):
    db = Database(sqlite_url(tmp_path))
    old = pd.DataFrame(
        {
            "model": ["churn", "churn", "other", "churn"],
            "window_end": pd.to_datetime(
                ["2026-03-16 02:00", "2026-03-23 02:00", "2026-03-16 02:00", "2026-04-06 02:00"]
            ),
            "champion_version": ["3", "3", "1", "3"],
            "decision": ["retrain", "none", "none", "retrain_pending"],
            "drift_detected": [True, False, False, True],
        }
    )
    with db.engine() as engine:
        old.to_sql(MONITORING_TABLE, engine, index=False)

    found = history(db, config, END)
    upgrade_schema(db)  # the table written before migrations gains drift_signature, NULL in its rows
    again = history(db, config, END)

    assert found.records == (
        WindowRecord(END - timedelta(days=14), "3", True, True),
        WindowRecord(END - timedelta(days=7), "3", False, False),
    )  # before END only, oldest first, UTC-aware, no signature recorded
    assert found.last_trigger_at == END - timedelta(days=14)
    assert found.latest_end == END + timedelta(days=7)  # a later window, not yet emitted, makes END stale
    assert again == found


def test_history_of_a_model_never_monitored_is_empty(config, tmp_path):
    found = history(Database(sqlite_url(tmp_path)), config, END)

    assert (found.records, found.last_trigger_at, found.latest_end) == ((), None, None)


def test_the_champions_scores_decide_the_importance_not_the_column_order(config):
    # Reordered features: the champion scores support_tickets_90d, listed third in the model file.
    champion = ChampionScorer(
        context(config, tracker=FakeTracker(FakeModel(["support_tickets_90d"]))), ref(["support_tickets_90d"])
    )
    reference = _rows(config, 5000, 1)

    found = drift_evidence_for(config, champion, reference, _rows(config, 3000, 2))

    importance = {name: column.importance for name, column in found.columns.items()}
    assert importance["support_tickets_90d"] == pytest.approx(1.0)
    assert np.isclose(sum(importance.values()), 1.0) and found.drifted == []
