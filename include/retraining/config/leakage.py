"""The `gate.leakage:` section: a challenger too good to be true is blocked, not promoted.

A feature derived from the target (or filled from the label by an upstream join) makes the
holdout look near perfect, and the comparison with the champion then promotes it: the guard is
what stops that. Where the defaults come from: docs/decisions.md, "The leakage guard".
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from include.retraining.config.base import Strict

# What "too good" means when the model file says nothing, per task. A ranking of real customers,
# patients or machines at 99.5% AUC is a leak far more often than a model; R^2 has no such
# common ceiling, so it is higher.
DEFAULT_TOO_GOOD = {
    "classification": {"roc_auc": 0.995},
    "multiclass": {"roc_auc_ovr": 0.995},
    "regression": {"r2": 0.999},
}


class LeakageConfig(Strict):
    # metric -> the best plausible holdout value: a challenger this good or better is blocked
    # (">=" for roc_auc or r2, "<=" for a lower-is-better metric). None: DEFAULT_TOO_GOOD; {}: off.
    too_good: dict[str, float] | None = None
    # One feature alone on the holdout: 2 |AUC - 0.5| (classification) or its squared rank
    # correlation with the target (regression). This high blocks, naming the feature. None: off.
    single_feature: float | None = Field(0.99, gt=0.0, le=1.0)

    @field_validator("too_good")
    @classmethod
    def _finite(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        bad = sorted(name for name, limit in (value or {}).items() if not math.isfinite(limit))
        if bad:
            raise ValueError(f"gate.leakage.too_good values for {bad} must be finite numbers in the metric's units")
        return value

    def limits(self, task: str) -> dict[str, float]:
        """The holdout figures that block, with the task's default when the file sets none."""
        return dict(DEFAULT_TOO_GOOD[task] if self.too_good is None else self.too_good)
