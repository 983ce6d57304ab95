"""What the monitor's steps hand the trigger policy: the drift evidence of a window (in
`data_drift`) and the earlier runs from `model_monitoring` (in `decide`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from include.retraining.config.model import ModelConfig
from include.retraining.drift.evidence import (
    NO_SEASONAL,
    DriftEvidence,
    SeasonalEvidence,
    column_tests,
    evidence,
    score_sensitivity,
)
from include.retraining.drift.policy import records_from_rows
from include.retraining.drift.stats import sample_rows
from include.retraining.monitor.champion import ChampionScorer
from include.retraining.monitor.contracts import DriftResult
from include.retraining.tables import monitoring as monitoring_table

# Enough earlier runs to reach back to the champion's arrival at a daily schedule for a year.
HISTORY_ROWS = 400


def drift_evidence_for(
    config: ModelConfig,
    champion: ChampionScorer,
    version: str,
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
    return evidence(
        column_tests(ref, cur, numeric, categorical),
        importance,
        config.trigger,
        champion_version=version,
        n_reference=len(ref),
        n_current=len(cur),
        seasonal_tests=again,
        seasonal=seasonal,
    )


def holdout_rows(config: ModelConfig, reference: pd.DataFrame) -> pd.DataFrame:
    """The champion's out-of-time holdout within its training snapshot: the latest
    `holdout_fraction` of rows by timestamp, as `training.split_by_time` cut it."""
    from include.retraining.learning.training import split_by_time

    if config.source.id_column and config.source.id_column not in reference.columns:
        config = config.model_copy(update={"source": config.source.model_copy(update={"id_column": None})})
    return split_by_time(reference, config).holdout


def policy_inputs(config: ModelConfig, drift: DriftResult, url: str, now: datetime) -> dict[str, Any]:
    """`drift_gate.decide`'s policy arguments; none for a drift result without evidence (an XCom
    of a run from before the policy), which then decides as before."""
    if "evidence" not in drift:
        return {}
    rows = monitoring_table.recent_rows(url, config.name, now, HISTORY_ROWS)
    return {
        "evidence": DriftEvidence.from_dict(drift["evidence"]),
        "history": records_from_rows(rows),
        "trigger": config.trigger,
    }
