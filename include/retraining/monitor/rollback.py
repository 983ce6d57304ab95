"""The monitor's `auto_rollback` task (`monitor.auto_rollback: true`): the champion and the previous
champion scored on the same matured rows, handed to the promotion package, which decides with
the gate's own rule and moves `champion` back when the previous one is significantly better."""

from __future__ import annotations

from include.retraining.monitor.contracts import CurrentWindow, Reference
from include.retraining.monitor.paired import NotComparable, matured_pair
from include.retraining.rollback import NoRollback, RolledBack, eligible, roll_back_if_worse
from include.retraining.runs import StepContext


def auto_rollback(ctx: StepContext, ref: Reference, cur: CurrentWindow) -> RolledBack:
    """Roll back when the previous champion is significantly better on the matured rows, else
    raise NoRollback with the reason."""
    previous = eligible(ctx, ref.version)
    try:
        y, champion_scores, previous_scores = matured_pair(ctx, ref, cur, previous, "previous_champion version")
    except NotComparable as exc:
        raise NoRollback(str(exc)) from exc.__cause__
    return roll_back_if_worse(ctx, (ref.version, previous), y, (champion_scores, previous_scores), cur.matured_window)
