"""Rolling `champion` back to an earlier version of the same model, by a person (`rollback_<model>`)
or by the monitor (`auto_rollback`), through the same move path as a promotion.

Under the model's promotion lock: a lost move is completed first (`promotion.reconcile`); when that
moved `champion`, this rollback moves nothing more (the state it was asked to change is gone) and
says so. Then the target is checked (a version of THIS model that exists, was not trained for
another model, is not already the champion, earned `champion` through the gate (standing.py),
and loads), then the log row is written and the alias moved. A version the gate blocked, an approver
rejected, or that was never champion moves only with `force` and a reason, logged as
`forced_rollback`. A refusal raises `RollbackRefused` with the reason and the fix; nothing moves.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from include.retraining.alerts import Alert
from include.retraining.promotion import (
    Reconciled,
    Reconciliation,
    latest_move,
    move_champion,
    promotion_lock,
    reconcile,
)
from include.retraining.rollback.standing import Standing, version_standing
from include.retraining.runs import StepContext
from include.retraining.tables import PromotionAction, PromotionRecord
from include.retraining.tracking import DAG_ID_TAG, Champion, UnusableModelError

log = logging.getLogger(__name__)

# The figure of a forced rollback's log row that says which refusal it overrode.
OVERRODE = "overrode"
_VERSION = re.compile(r"(?:models:/)?(?:(?P<name>[^/@:\s]+)[/:])?v?(?P<version>\d+)")


class RollbackRefused(Exception):
    """This rollback must not happen; the message names the model, the version and the fix."""


@dataclass(frozen=True)
class RollbackRequest:
    """What to roll back to (None: `previous_champion`) and why; `expected_from` makes the move
    compare-and-set (the monitor judged that champion, and only that one may be replaced). An
    automatic rollback is the scheduler's, whoever triggered the monitoring run."""

    to_version: str | None
    reason: str
    action: PromotionAction = PromotionAction.ROLLBACK
    figures: dict[str, Any] = field(default_factory=dict)
    expected_from: str | None = None
    actor: str | None = None  # None: whoever runs it (the triggering user, or the scheduler)
    # The run's param `force`: move even to a version that has no standing (`standing.py`).
    force: bool = False


@dataclass(frozen=True)
class RolledBack:
    model: str
    from_version: str | None
    to_version: str
    action: str
    reason: str
    actor: str
    log_id: int | None
    # A lost move that this run's reconcile completed before (or instead of) its own, in words.
    reconciled: str | None = None
    # Why the target had no standing, when `force` overrode it (action forced_rollback).
    overrode: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


def parse_version(model: str, raw: str) -> str:
    """'3', 'v3', 'models:/churn/3' or 'churn/3' -> '3'; a version named for another model is refused."""
    match = _VERSION.fullmatch(raw.strip())
    if match is None:
        raise RollbackRefused(
            f"model {model!r}: to_version {raw!r} is not a version number; give the registered version "
            f"of {model!r} to roll back to (e.g. 3), or leave it empty for previous_champion"
        )
    name = match["name"]
    if name is not None and name != model:
        raise RollbackRefused(
            f"model {model!r}: to_version {raw!r} names model {name!r}; rollback_{model} only moves the champion "
            f"of {model!r} (use rollback_{name} for {name!r})"
        )
    return str(int(match["version"]))


def _target(ctx: StepContext, request: RollbackRequest, current: Champion) -> Champion:
    """The version to move `champion` to, checked: exists in this model, trained for it, not the champion."""
    model, registry = ctx.config.name, ctx.registry
    if request.to_version in (None, ""):
        previous = registry.previous_champion()
        if previous is None:
            raise RollbackRefused(
                f"model {model!r} has no previous_champion to roll back to; give param to_version "
                "(a registered version of this model)"
            )
        version = previous.version
    else:
        version = parse_version(model, str(request.to_version))
    target = registry.version(version)
    if target is None:
        raise RollbackRefused(
            f"model {model!r} has no version {version} in the MLflow registry; check the version number "
            f"under registered model {model!r} in MLflow"
        )
    trained_by = ctx.tracker.run_tags(target.run_id).get(DAG_ID_TAG) if target.run_id else None
    if trained_by and trained_by != ctx.config.retrain_dag_id:
        raise RollbackRefused(
            f"model {model!r}: version {version} was trained by {trained_by}, not {ctx.config.retrain_dag_id}: "
            f"it is another model's run registered under {model!r}; roll back to a version trained for {model!r}"
        )
    if target.version == current.version:
        raise RollbackRefused(
            f"model {model!r}: version {version} is already the champion; nothing to roll back. Give another "
            "version as to_version (the previous champion is the default)"
        )
    return target


def _check_loads(ctx: StepContext, target: Champion) -> None:
    try:
        ctx.tracker.load_model(target.model_uri)
    except UnusableModelError as exc:
        raise RollbackRefused(
            f"model {ctx.config.name!r}: version {target.version} cannot be loaded ({exc}); `champion` stays "
            "where it is. Roll back to a version whose artifact loads"
        ) from exc


def _unearned(ctx: StepContext, request: RollbackRequest, current: Champion, target: Champion, why: Standing) -> str:
    """Refuse a target without standing, or (with `force` on a manual rollback) return why it was forced."""
    model = ctx.config.name
    if request.force and request.action is PromotionAction.ROLLBACK:
        log.warning("model %r: forced rollback to version %s although %s", model, target.version, why.why)
        return why.why
    fix = (
        f"To serve it anyway, trigger rollback_{model} again with param force: true and a reason; the move is "
        "logged as forced_rollback and alerted"
        if request.action is PromotionAction.ROLLBACK
        else "An automatic rollback is never forced"
    )
    raise RollbackRefused(
        f"model {model!r}: refused to make version {target.version} champion: {why.why}. A rollback only "
        f"returns to a version that was champion through the gate; `champion` stays version {current.version}. {fix}"
    )


def _done(row: PromotionRecord, reconciled: str | None = None) -> RolledBack:
    overrode = row.figures.get(OVERRODE) if row.action is PromotionAction.FORCED_ROLLBACK else None
    return RolledBack(
        row.model, row.from_version, row.to_version, row.action.value, row.reason, row.actor, row.id,
        reconciled, overrode,
    )  # fmt: skip


def _completed_by_this_run(
    ctx: StepContext, request: RollbackRequest, current: Champion | None, newest: PromotionRecord | None
) -> bool:
    """A retry of this run, whose row is written and whose move is complete."""
    if newest is None or current is None:
        return False
    mine = newest.run_url == ctx.run_url and newest.action in (request.action, PromotionAction.FORCED_ROLLBACK)
    return mine and current.version == newest.to_version


def _after_lost_move(ctx: StepContext, request: RollbackRequest, repaired: Reconciliation) -> RolledBack:
    """A lost move was just completed: this rollback moves nothing more. Done when it landed on the
    version asked for; else refused: the champion it was asked to replace is gone, and an empty
    to_version (previous_champion) would now put back the very version the lost move replaced."""
    model, row = ctx.config.name, repaired.record
    assert row is not None  # a completed reconciliation always carries its row
    asked = parse_version(model, str(request.to_version)) if request.to_version not in (None, "") else None
    if asked == row.to_version:
        return _done(row, f"{repaired.message}; that is the version this rollback asked for, so it moved nothing more")
    raise RollbackRefused(
        f"{repaired.message}. `champion` is now version {row.to_version} and previous_champion version "
        f"{row.from_version or 'none'}; this rollback (to_version "
        f"{asked or 'empty: previous_champion'}) was asked against the champion before that move, so it moved "
        f"nothing more. Check the champion, then trigger rollback_{model} again with to_version set to the "
        "version you want"
    )


def roll_back(ctx: StepContext, request: RollbackRequest) -> RolledBack:
    """Move `champion` back to the requested version (log row first), or raise RollbackRefused."""
    model, db, registry = ctx.config.name, ctx.pipeline_db, ctx.registry
    if not request.reason.strip():
        raise RollbackRefused(f"model {model!r}: param reason is required; say why the champion is rolled back")
    with promotion_lock(db, model):
        repaired = reconcile(db, registry, model)
        current = registry.champion()
        newest = latest_move(db, model)
        if _completed_by_this_run(ctx, request, current, newest):
            return _done(newest)
        if repaired.outcome is Reconciled.COMPLETED:
            return _after_lost_move(ctx, request, repaired)
        if current is None:
            raise RollbackRefused(f"model {model!r} has no champion; nothing to roll back")
        if request.expected_from is not None and current.version != request.expected_from:
            raise RollbackRefused(
                f"model {model!r}: the champion changed from version {request.expected_from} to {current.version} "
                "after it was judged; not rolled back"
            )
        target = _target(ctx, request, current)
        previous = registry.previous_champion()
        verdict = version_standing(db, model, target, previous.version if previous else None)
        overrode = None if verdict.earned else _unearned(ctx, request, current, target, verdict)
        _check_loads(ctx, target)
        action = PromotionAction.FORCED_ROLLBACK if overrode else request.action
        figures = {**request.figures, **({OVERRODE: overrode} if overrode else {})}
        record = PromotionRecord(
            model, target.version, action, request.reason.strip(), current.version, figures,
            request.actor or ctx.run.actor, ctx.run_url,
        )  # fmt: skip
        move_champion(db, registry, record, {})
        stored = latest_move(db, model)
    return _done(stored if stored is not None else record)


def rolled_back_alert(ctx: StepContext, done: RolledBack) -> Alert:
    """The message every rollback sends: which versions, who or what, and why; a forced one says
    what the gate or the approver had decided, and a completed lost move is named."""
    automatic = done.action == PromotionAction.AUTO_ROLLBACK
    forced = done.action == PromotionAction.FORCED_ROLLBACK
    how = "automatically " if automatic else "forcibly " if forced else ""
    title = f"{done.model}: champion {how}rolled back to version {done.to_version}"
    lines = [
        f"`champion` moved from version {done.from_version or 'none'} to version {done.to_version} "
        f"({done.action}, by {done.actor}).",
        f"Reason: {done.reason}",
    ]
    if forced:
        lines.append(f"Forced past the gate (param force): {done.overrode}.")
    if done.reconciled:
        lines.append(f"Before this rollback: {done.reconciled}.")
    lines.append(
        "The history is in the warehouse table model_promotions; the replaced version is now previous_champion."
    )
    figures = {"from_version": done.from_version, "to_version": done.to_version, "log_id": done.log_id}
    return Alert(
        "champion_forced_back" if forced else "champion_rolled_back",
        done.model,
        title,
        lines,
        {"Airflow run": ctx.run_url},
        figures,
        f"{ctx.run.dedup_prefix}/rollback",
    )
