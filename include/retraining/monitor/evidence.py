"""What the monitor hands the trigger policy: the drift evidence of a window (in `data_drift`) and
the history of earlier runs from `model_monitoring`, read once (in `decide`)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from include.retraining.common import sample_rows
from include.retraining.config import ModelConfig
from include.retraining.drift import (
    NO_SEASONAL,
    DriftEvidence,
    History,
    SeasonalEvidence,
    column_tests,
    drift_evidence,
    score_sensitivity,
)
from include.retraining.monitor.champion import ChampionScorer
from include.retraining.tables import read_history
from include.retraining.warehouse import Database

# Enough earlier runs to reach back to the champion's arrival at a daily schedule for a year.
HISTORY_ROWS = 400


def drift_evidence_for(
    config: ModelConfig,
    champion: ChampionScorer,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    seasonal_frame: pd.DataFrame | None = None,
    seasonal: SeasonalEvidence = NO_SEASONAL,
) -> DriftEvidence:
    """Per-column tests of the configured features the champion's training rows have, on the same
    fixed-seed samples as the Evidently report, weighted by the champion's sensitivity to each;
    with `seasonal_frame` (the seasonal reference's rows) the same tests against it too."""
    numeric = [c for c in config.features.numeric if c in reference.columns]
    categorical = [c for c in config.features.categorical if c in reference.columns]
    rows, seed = config.monitor.max_rows, config.training.seed
    ref, cur = sample_rows(reference, rows, seed), sample_rows(current, rows, seed + 1)
    importance = score_sensitivity(
        champion.scores, ref, [*numeric, *categorical], rows=config.trigger.importance_rows, seed=seed
    )
    again = column_tests(seasonal_frame, cur, numeric, categorical) if seasonal_frame is not None else None
    return drift_evidence(
        column_tests(ref, cur, numeric, categorical),
        importance,
        config.trigger,
        champion_version=champion.ref.version,
        n_reference=len(ref),
        n_current=len(cur),
        seasonal_tests=again,
        seasonal=seasonal,
    )


def history(db: Database, config: ModelConfig, now: datetime) -> History:
    """Everything the decision knows of the model's earlier monitoring runs, in one read."""
    found = read_history(db, config.name, now, HISTORY_ROWS)
    return History.from_rows(found.rows, found.last_trigger_at, found.latest_end)
