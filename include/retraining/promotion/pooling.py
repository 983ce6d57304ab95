"""The evaluate step's pooled evidence (`gate.pooled_windows`): this decision's holdout evidence,
the earlier decisions' evidence it pools with, and storing this one for the decisions after it.

Which rows may be pooled is decided in `evidence.pool_evidence`; this module only fetches
and stores, through the tracking adapter's evidence store (`ctx.tracker.evidence`), and reads
when the baseline's tenure as champion began from the promotion log (MLflow keeps no alias history).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from include.retraining.common import as_nanoseconds
from include.retraining.promotion.evidence import HoldoutEvidence, PooledEvidence, from_frame, pool_evidence, to_frame
from include.retraining.promotion.moves import latest_move
from include.retraining.runs import StepContext

log = logging.getLogger(__name__)

# Earlier runs fetched per decision, beyond the windows needed: reruns and backfills may have
# left runs whose holdouts are not older than this one; pool_evidence skips those.
EXTRA_RUNS = 2


def current_evidence(
    ctx: StepContext, run_id: str, recipe: tuple[str, str], holdout: pd.DataFrame, scored: tuple
) -> HoldoutEvidence:
    """This decision's evidence: `recipe` is (baseline version, config hash), `scored` is
    (labels, challenger scores, baseline scores) of the holdout's rows in order."""
    source = ctx.config.source
    id_column = source.id_column if source.id_column in holdout.columns else None
    stamps = pd.to_datetime(holdout[source.timestamp_column], utc=True).dt.as_unit("ns")
    y, challenger, champion = scored
    return HoldoutEvidence(
        run_id,
        *recipe,
        stamps.astype("int64").to_numpy(),
        np.asarray(y),
        np.asarray(challenger, dtype="float64"),
        np.asarray(champion, dtype="float64"),
        holdout[id_column].to_numpy() if id_column else None,
    )


def pooled_for(ctx: StepContext, current: HoldoutEvidence, experiment_id: str) -> PooledEvidence | None:
    """The rows this decision tests on, or None when the model pools nothing (`pooled_windows: 1`).

    Errors of the tracking store and of the promotion log propagate (the task is retried); a
    baseline run without its training cutoff, or a baseline whose current tenure as champion the
    log does not show, pools nothing earlier (PooledEvidence.note says so, and the task log).
    """
    windows = ctx.config.gate.pooled_windows
    if windows == 1:
        return None
    store = ctx.tracker.evidence
    stored = store.earlier(experiment_id, current.compared_with, current.config_hash, windows - 1 + EXTRA_RUNS)
    earlier = [from_frame(s.frame, s.run_id, current.compared_with, current.config_hash, s.started_at) for s in stored]
    baseline_run = ctx.registry.version(current.compared_with).run_id
    since = tenure_start(ctx, current.compared_with)
    pooled = pool_evidence(current, earlier, windows, store.training_cutoff(baseline_run), since=since)
    if pooled.note:
        log.warning("model %r, pooled evidence: %s", ctx.config.name, pooled.note)
    return pooled


def tenure_start(ctx: StepContext, version: str) -> int | None:
    """When alias `champion` last moved to `version` (ns, UTC): the time of the promotion log's
    newest move (promotion, approval or rollback, the first promotion included) if it went to
    `version`. None when it did not: no move logged (a champion from before the log), a champion
    moved outside the pipeline, or `previous_champion` standing in for an unusable champion."""
    move = latest_move(ctx.pipeline_db, ctx.config.name)
    if move is None or move.to_version != version or move.at is None:
        return None
    return as_nanoseconds(move.at)


def store_evidence(ctx: StepContext, current: HoldoutEvidence) -> None:
    """Store this decision's evidence on its run, for the decisions after it (pooling models only)."""
    if ctx.config.gate.pooled_windows > 1:
        ctx.tracker.evidence.log(current.run_id, current.compared_with, to_frame(current))
