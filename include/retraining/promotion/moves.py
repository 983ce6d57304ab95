"""The one code path that moves alias `champion`: promotion, approval, rollback, auto-rollback.

Record first, move after: the promotion log row is written before the alias moves, so an alias
never moves without its row. A crash between the two leaves a row whose `to_version` is not the
champion; `reconcile`, which every mover runs under the model's promotion lock before it reads
the champion, finds that row and completes its move (the decision was made and recorded; only
the registry call was lost). A champion moved outside the pipeline (by hand in MLflow) is
reported, never undone. The rule is in docs/reliability.md ("The promotion log").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import StrEnum

from include.retraining.tables import promotions as promotion_log
from include.retraining.tables.promotions import PromotionAction, PromotionRecord
from include.retraining.tracking.registry import DECIDED_BY_TAG, DECISION_TAG, REASON_TAG, Registry
from include.retraining.tracking.tracker import MAX_TAG_CHARS

log = logging.getLogger(__name__)

# Rows that moved `champion`; a `reject` row records a decision that moved nothing.
MOVES = frozenset(PromotionAction) - {PromotionAction.REJECT}
# How far back reconcile looks for the newest move past non-moving rows.
_LOOKBACK = 50
# The MLflow run behind `to_version`, stored in the row's figures: reconcile completes a move only
# onto that same run, never onto a version number that means another model in another registry
# (an MLflow store restored or replaced while the warehouse kept its log).
TO_RUN_ID = "to_run_id"


class Reconciled(StrEnum):
    NO_LOG = "no_log"  # no move recorded yet (a champion from before the log, or none at all)
    IN_STEP = "in_step"  # the newest recorded move is the champion
    COMPLETED = "completed"  # the newest recorded move had not happened; it has now
    OUT_OF_BAND = "out_of_band"  # the champion was moved outside the pipeline; left alone


@dataclass(frozen=True)
class Reconciliation:
    outcome: Reconciled
    message: str = ""
    record: PromotionRecord | None = None


def latest_move(url: str, model: str) -> PromotionRecord | None:
    """The model's newest row that moved `champion` (reject rows skipped)."""
    return next((row for row in promotion_log.history(url, model, _LOOKBACK) if row.action in MOVES), None)


def move_tags(record: PromotionRecord) -> dict[str, str]:
    """The version tags every move leaves in the registry, beside its log row."""
    return {
        DECISION_TAG: record.action.value,
        REASON_TAG: record.reason[:MAX_TAG_CHARS],
        DECIDED_BY_TAG: record.run_url,
    }


def move_champion(url: str, registry: Registry, record: PromotionRecord, tags: dict[str, str]) -> str | None:
    """Write the log row (once per run and move), then move `champion` to `record.to_version`;
    the replaced version (now `previous_champion`). The caller holds the promotion lock."""
    target = registry.version(record.to_version)
    if target is None:
        raise ValueError(f"model {record.model!r} has no version {record.to_version} in the registry: nothing moved")
    record = replace(record, figures={**record.figures, TO_RUN_ID: target.run_id})
    promotion_log.append_once(url, record)
    return registry.promote(record.to_version, {**move_tags(record), **tags})


def reconcile(url: str, registry: Registry, model: str) -> Reconciliation:
    """Compare the log's newest move with the registry's champion and complete a lost move.
    Run under the promotion lock, before the champion is read for a decision."""
    row = latest_move(url, model)
    if row is None:
        return Reconciliation(Reconciled.NO_LOG)
    champion = registry.champion()
    current = champion.version if champion is not None else None
    if current == row.to_version:
        return Reconciliation(Reconciled.IN_STEP, record=row)
    if current == row.from_version:
        target = registry.version(row.to_version)
        recorded = row.figures.get(TO_RUN_ID)
        if target is None or recorded is None or target.run_id != recorded:
            message = (
                f"model {model!r}: the promotion log's newest move (row {row.id}, to version {row.to_version} of "
                f"MLflow run {recorded or 'unrecorded'}) does not match this registry's version {row.to_version} "
                f"(run {target.run_id if target else 'none'}): not completed, `champion` stays version "
                f"{current or 'none'}; was the MLflow store replaced while the warehouse kept its log?"
            )
            log.warning(message)
            return Reconciliation(Reconciled.OUT_OF_BAND, message, row)
        registry.promote(row.to_version, move_tags(row))
        message = (
            f"model {model!r}: completed the {row.action.value} to version {row.to_version} recorded in the "
            f"promotion log (row {row.id}, {row.run_url or 'no run URL'}) whose alias move had not happened; "
            f"`champion` was still version {current or 'none'}"
        )
        log.warning(message)
        return Reconciliation(Reconciled.COMPLETED, message, row)
    message = (
        f"model {model!r}: `champion` is version {current or 'none'}, but the promotion log's newest move "
        f"(row {row.id}) went from {row.from_version or 'none'} to {row.to_version}: the alias was moved "
        "outside the pipeline; left as it is (move it with rollback_<model> so the move is logged)"
    )
    log.warning(message)
    return Reconciliation(Reconciled.OUT_OF_BAND, message, row)
