"""Whether a version earned `champion` through the gate, checked before a rollback makes it champion
again without `force`: it must have been champion by a promote, approve, rollback or auto_rollback.
The promotion log answers first (who, when); the registry's version tags answer for versions from
before the log. A forced rollback is no such evidence: forcing once does not clear a version."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from include.retraining.tables import PromotionAction, PromotionRecord, history
from include.retraining.tracking import DECIDED_BY_TAG, DECISION_TAG, REASON_TAG, REPLACED_BY_TAG, Champion
from include.retraining.warehouse import Database

# Moves that put a version in place on its own merit (the gate, an approver, or a rollback to a
# version that had been champion).
EARNED = frozenset(
    {PromotionAction.PROMOTE, PromotionAction.APPROVE, PromotionAction.ROLLBACK, PromotionAction.AUTO_ROLLBACK}
)
# The gate's tag value on a version it did not promote (rejections and timeouts included).
BLOCK = "block"
# How many log rows of one version are read (a version is moved to only a few times).
_ROWS = 50


class Unearned(StrEnum):
    """Why a version has no standing to be champion again."""

    BLOCKED = "blocked"  # the gate (or compare-and-set) left it `challenger`
    REJECTED = "rejected"  # an approver said no, or nobody answered in time
    NEVER_CHAMPION = "never_champion"  # registered, but never moved to `champion` on its merit


@dataclass(frozen=True)
class Standing:
    """The verdict on one version: None `unearned` means it may serve again; else why not, in words."""

    version: str
    unearned: Unearned | None = None
    why: str = ""

    @property
    def earned(self) -> bool:
        return self.unearned is None


def _from_log(version: str, rows: list[PromotionRecord]) -> tuple[Standing | None, PromotionRecord | None]:
    """The log's verdict (newest row first, forced moves skipped) and the newest forced move, if any."""
    forced = next((r for r in rows if r.action is PromotionAction.FORCED_ROLLBACK), None)
    for row in rows:
        when = row.at.strftime("%Y-%m-%d %H:%M UTC") if row.at else "an unknown time"
        if row.action is PromotionAction.REJECT:
            why = (
                f"its approval was declined on {when}: {row.reason} (promotion log row {row.id}, "
                f"{row.run_url or 'no run URL'})"
            )
            return Standing(version, Unearned.REJECTED, why), forced
        if row.action in EARNED:
            return Standing(version), forced
    return None, forced


def version_standing(db: Database, model: str, target: Champion, previous_champion: str | None) -> Standing:
    """May `target` be champion again without `force`? The promotion log first, then the registry."""
    version = target.version
    found, forced = _from_log(version, history(db, model, _ROWS, to_version=version))
    if found is not None:
        return found
    tags = target.tags
    if tags.get(DECISION_TAG) == BLOCK:
        run = tags.get(DECIDED_BY_TAG) or "an unrecorded run"
        why = f"the promotion gate blocked it in {run} ({tags.get(REASON_TAG) or 'no reason recorded'})"
        return Standing(version, Unearned.BLOCKED, why)
    if forced is not None:
        why = f"it was never champion except by a forced rollback (promotion log row {forced.id}, by {forced.actor})"
        return Standing(version, Unearned.NEVER_CHAMPION, why)
    # A champion from before the promotion log: the registry remembers that it served.
    served = tags.get(DECISION_TAG) in {a.value for a in EARNED} or bool(tags.get(REPLACED_BY_TAG))
    if served or version == previous_champion:
        return Standing(version)
    why = (
        "it was never champion: no promotion log row (model_promotions) moved champion to it and its "
        f"registry tags record no promotion ({DECISION_TAG}={tags.get(DECISION_TAG) or 'unset'})"
    )
    return Standing(version, Unearned.NEVER_CHAMPION, why)
