"""Moving `champion` back to an earlier version: by a person (`rollback_<model>`, only to a version
that earned `champion` through the gate unless forced with a reason), or by the monitor
(`monitor.auto_rollback`: the gate's paired test asked the other way round, at most once per hold).
Every move goes through `promotion.move_champion`, log row first, under the model's lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.rollback.automatic import (
        NoRollback,
        RollbackHeld,
        eligible,
        held_alert,
        judge_rollback,
        recent_auto_rollback,
        roll_back_if_worse,
        rolled_back_by_this_run,
    )
    from include.retraining.rollback.manual import (
        OVERRODE,
        RollbackRefused,
        RollbackRequest,
        RolledBack,
        parse_version,
        roll_back,
        rolled_back_alert,
    )
    from include.retraining.rollback.standing import Standing, Unearned, version_standing

__all__, __getattr__, __dir__ = face(__name__)
