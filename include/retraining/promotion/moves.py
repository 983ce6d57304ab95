"""The one room where alias `champion` moves: promotion, approval, rollback, auto-rollback, and the
reconciliation of a move that was recorded but not made.

Record first, move after: the promotion log row is written before the alias moves, so an alias
never moves without its row. A crash between the two leaves a row whose `to_version` is not the
champion; `reconcile`, which every mover runs under the model's promotion lock before it reads the
champion, finds that row and completes its move (the decision was made and recorded; only the
registry call was lost). A champion moved outside the pipeline (by hand in MLflow) is reported,
never undone. The rule is in docs/reliability.md ("The promotion log").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from include.retraining.locking import named_lock
from include.retraining.promotion.contracts import Evaluated, Promotion, PromotionOutcome
from include.retraining.runs import StepContext
from include.retraining.tables import PromotionAction, PromotionRecord, append_once, history
from include.retraining.tracking import (
    COMPARED_WITH_TAG,
    DECIDED_BY_TAG,
    DECISION_TAG,
    MAX_TAG_CHARS,
    REASON_TAG,
    WINDOW_END_TAG,
    Champion,
    Registry,
)
from include.retraining.warehouse import Database

log = logging.getLogger(__name__)

# Rows that moved `champion`; a `reject` row records a decision that moved nothing.
MOVES = frozenset(PromotionAction) - {PromotionAction.REJECT}
# The decision tag of a version on canary: only such a `challenger` answers traffic.
CANARY = "canary"
# How far back reconcile looks for the newest move past non-moving rows.
_LOOKBACK = 50
# The MLflow run behind `to_version`, stored in the row's figures: reconcile completes a move only
# onto that same run, never onto a version number that means another model in another registry
# (an MLflow store restored or replaced while the warehouse kept its log).
TO_RUN_ID = "to_run_id"


class Reconciled(StrEnum):
    NO_LOG = "no_log"  # no move recorded yet (a champion from before the log, or none at all)
    IN_STEP = "in_step"  # the newest recorded move is the champion (previous_champion repaired if stale)
    COMPLETED = "completed"  # the newest recorded move had not happened; it has now
    OUT_OF_BAND = "out_of_band"  # the champion was moved outside the pipeline; left alone


@dataclass(frozen=True)
class Reconciliation:
    outcome: Reconciled
    message: str = ""
    record: PromotionRecord | None = None


@contextmanager
def promotion_lock(db: Database, model: str) -> Iterator[None]:
    """One move of a model's `champion` at a time, across every worker and host (backfills run
    concurrently): a named lock in the pipeline database, beside the promotion log it guards."""
    with named_lock(db, f"promotion/{model}"):
        yield


def latest_move(db: Database, model: str) -> PromotionRecord | None:
    """The model's newest row that moved `champion` (reject rows skipped)."""
    return next((row for row in history(db, model, _LOOKBACK) if row.action in MOVES), None)


def move_tags(record: PromotionRecord) -> dict[str, str]:
    """The version tags every move leaves in the registry, beside its log row."""
    return {
        DECISION_TAG: record.action.value,
        REASON_TAG: record.reason[:MAX_TAG_CHARS],
        DECIDED_BY_TAG: record.run_url,
    }


def move_champion(db: Database, registry: Registry, record: PromotionRecord, tags: dict[str, str]) -> str | None:
    """Write the log row (once per run and move), then move `champion` to `record.to_version`;
    the replaced version (now `previous_champion`). The caller holds the promotion lock."""
    target = registry.version(record.to_version)
    if target is None:
        raise ValueError(f"model {record.model!r} has no version {record.to_version} in the registry: nothing moved")
    record = replace(record, figures={**record.figures, TO_RUN_ID: target.run_id})
    append_once(db, record)
    return registry.promote(record.to_version, {**move_tags(record), **tags})


def reconcile(db: Database, registry: Registry, model: str) -> Reconciliation:
    """Compare the log's newest move with the registry's champion and complete a lost move.
    Run under the promotion lock, before the champion is read for a decision."""
    row = latest_move(db, model)
    if row is None:
        return Reconciliation(Reconciled.NO_LOG)
    champion = registry.champion()
    current = champion.version if champion is not None else None
    if current == row.to_version:
        return Reconciliation(Reconciled.IN_STEP, _repair_previous(registry, model, row, champion), row)
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


def _repair_previous(registry: Registry, model: str, row: PromotionRecord, champion: Champion) -> str:
    """Point `previous_champion` back at the version the newest move replaced, when a mover died
    between the `champion` and `previous_champion` moves with no retry left (the default rollback
    target would otherwise be two versions back); what was repaired, or "" when nothing was."""
    previous = registry.previous_champion()
    if row.from_version is None or (previous is not None and previous.version == row.from_version):
        return ""
    recorded = row.figures.get(TO_RUN_ID)
    if (recorded is not None and champion.run_id != recorded) or registry.version(row.from_version) is None:
        return ""  # not this registry's move, or the replaced version is gone: nothing to point at
    registry.point_previous_champion(row.from_version, row.to_version)
    message = (
        f"model {model!r}: `previous_champion` was version {previous.version if previous else 'none'}, but the "
        f"promotion log's newest move (row {row.id}, {row.run_url or 'no run URL'}) replaced version "
        f"{row.from_version}: repaired to version {row.from_version} (the move had stopped between its two "
        "alias moves)"
    )
    log.warning(message)
    return message


def refusal(current: Champion | None, evaluated_version: str | None, version: str, window_end: datetime) -> str | None:
    """Why `champion` must not move to `version` now, or None when it may (compare-and-set)."""
    if current is not None and current.version == version:
        return None  # a retry completing its own move
    current_version = current.version if current is not None else None
    if current_version != evaluated_version:
        return (
            f"the champion changed from version {evaluated_version or 'none'} to {current_version or 'none'} "
            f"after this run evaluated against it; rerun the retrain to compare with the new champion"
        )
    champion_end = current.tags.get(WINDOW_END_TAG) if current is not None else None
    if champion_end and datetime.fromisoformat(champion_end) > window_end:
        return (
            f"version {version} was trained on a window ending {window_end.isoformat()}, older than the "
            f"champion version {current_version}'s ({champion_end}); an older window never replaces a newer one"
        )
    return None


def start_canary(ctx: StepContext, version: str, tags: dict[str, str]) -> None:
    """Put a version the gate passed on canary (`serving.canary`, promotion/canary.py): alias
    `challenger`, tagged as such; `champion` does not move and the log has no row yet."""
    ctx.registry.mark_challenger(version, {**tags, DECISION_TAG: CANARY})


@dataclass(frozen=True)
class Applied:
    """What the locked promote step did: the promotion (None when it did not promote), why a
    passing gate was refused, and what reconcile found before the decision was applied."""

    promotion: Promotion | None
    refused: str | None
    reconciled: Reconciliation
    # The gate passed with `serving.canary` set: the version went on canary, `champion` stayed.
    canary: bool = False

    @property
    def repaired(self) -> bool:
        return self.reconciled.outcome is Reconciled.COMPLETED


def decision_tags(ctx: StepContext, evaluated: Evaluated, action: str, reason: str) -> dict[str, str]:
    """The version tags of the gate's decision (the promotion log holds the same, for every move)."""
    return {
        DECISION_TAG: action,
        REASON_TAG: reason[:MAX_TAG_CHARS],
        DECIDED_BY_TAG: ctx.run_url,
        COMPARED_WITH_TAG: evaluated.champion_version or "",
    }


def promotion_record(ctx: StepContext, evaluated: Evaluated, version: str, approved_by: str | None) -> PromotionRecord:
    """The row of a gate's promotion: `approve` by the approver when the run waited for one
    (`gate.approval: required`), else `promote` by whoever started the run."""
    return PromotionRecord(
        model=ctx.config.name,
        to_version=version,
        action=PromotionAction.APPROVE if approved_by else PromotionAction.PROMOTE,
        reason=evaluated.reason,
        from_version=evaluated.champion_version,
        figures=evaluated.figures(),
        actor=approved_by or ctx.run.actor,
        run_url=ctx.run_url,
    )


def apply_decision(
    ctx: StepContext,
    evaluated: Evaluated,
    version: str,
    window_end: datetime,
    tags: dict[str, str],
    approved_by: str | None = None,
) -> Applied:
    """Under the model's promotion lock: reconcile, then move `champion` to `version` if the gate
    passed and compare-and-set allows (with `serving.canary`: put it on canary instead)."""
    registry, db = ctx.registry, ctx.pipeline_db
    with promotion_lock(db, ctx.config.name):
        reconciled = reconcile(db, registry, ctx.config.name)
        if not evaluated.promote:
            return Applied(None, None, reconciled)
        refused = refusal(registry.champion(), evaluated.champion_version, version, window_end)
        if refused is not None:
            return Applied(None, refused, reconciled)
        if ctx.config.serving.canary is not None:
            start_canary(ctx, version, tags)
            return Applied(None, None, reconciled, canary=True)
        record = promotion_record(ctx, evaluated, version, approved_by)
        previous = move_champion(db, registry, record, tags)
    return Applied(Promotion(PromotionOutcome.PROMOTED, version, evaluated.reason, previous), None, reconciled)
