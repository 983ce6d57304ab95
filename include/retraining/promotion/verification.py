"""Post-promotion verification, the pure part: did a promotion pay off as the gate said it would?

The gate promoted because the one-sided interval of challenger minus champion on the holdout had
its lower bound above `gate.min_improvement`: its promise is that the new champion is better than
the version it replaced by at least that lower bound. Once labels have matured on rows neither
version trained on, the same paired comparison on those rows gives the realized difference and
its interval (positive is better, as in the gate), and:

- `held`: the realized difference is at or above the promised lower bound;
- `short`: below it, but not significantly worse than the replaced version;
- `regressed`: significantly worse (the realized interval's upper bound below zero): an alert,
  and with `monitor.auto_rollback` the same comparison moves `champion` back;
- `unpromised`: a move the gate did not back with an interval (a promotion by hand) that did not
  regress; the realized figures are still recorded.

The share of promotions whose bound held is the gate's calibration: at `gate.confidence` 0.95 a
one-sided lower bound should hold in about 95% of promotions, less the realized estimate's own noise.
"""

from __future__ import annotations

import math
from typing import Any

from include.retraining.learning import ImprovementInterval

HELD, SHORT, REGRESSED, UNPROMISED = "held", "short", "regressed", "unpromised"


def promise(figures: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """The promised (difference, lower bound) from a promotion log row's figures; (None, None)
    when the move was not backed by the gate's interval."""
    interval = (figures or {}).get("interval") or {}
    try:
        difference, lower = float(interval["difference"]), float(interval["lower"])
    except (KeyError, TypeError, ValueError):
        return None, None
    if not (math.isfinite(difference) and math.isfinite(lower)):
        return None, None
    return difference, lower


def verdict(realized: ImprovementInterval, promised_lower: float | None) -> tuple[bool | None, str]:
    """(whether the promised lower bound held, the verdict) for the realized interval."""
    if not math.isfinite(realized.difference):
        raise ValueError(f"the realized {realized.metric} difference is {realized.difference}: nothing to judge")
    held = None if promised_lower is None else realized.difference >= promised_lower
    if realized.upper < 0:
        return held, REGRESSED
    if held is None:
        return None, UNPROMISED
    return held, HELD if held else SHORT


def calibration(bounds_held: list[bool | None]) -> tuple[int, int]:
    """(promotions whose promised bound held, promotions that had one)."""
    promised = [held for held in bounds_held if held is not None]
    return sum(promised), len(promised)
