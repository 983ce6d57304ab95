"""The `gate:` section: when a challenger may replace the champion."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from include.retraining.config.base import Strict
from include.retraining.config.leakage import LeakageConfig


class GateConfig(Strict):
    """Where each default comes from: docs/decisions.md, "The promotion gate"."""

    metric: str | None = None
    threshold: float | None = None
    min_improvement: float = 0.0
    confidence: float = Field(0.995, gt=0.5, lt=1.0)
    # Only pr_auc is resampled; every other metric has a closed-form interval.
    bootstrap_samples: int = Field(1000, ge=100, le=20000)
    # Holdouts per decision: this one plus the older rows of the latest earlier decisions against
    # the same champion by the same recipe (include/retraining/promotion/evidence.py). 1: this one only.
    pooled_windows: int = Field(4, ge=1, le=12)
    # metric -> margin: the challenger may be worse than the champion by at most this much.
    guardrails: dict[str, float] = Field(default_factory=dict)
    # `required`: a challenger that passed the gate waits for a person in the Airflow UI.
    # `four_eyes`: the same, and that person may not be the user who triggered the retrain run.
    approval: Literal["none", "required", "four_eyes"] = "none"
    # Hours the approval waits; no answer by then counts as a rejection.
    approval_timeout: float = Field(72.0, gt=0, le=24 * 7)
    # Too good to be true blocks (label leakage): include/retraining/config/leakage.py.
    leakage: LeakageConfig = Field(default_factory=LeakageConfig)

    @property
    def requires_approval(self) -> bool:
        """A challenger that passed the gate waits for a person before `champion` moves."""
        return self.approval in ("required", "four_eyes")

    @property
    def four_eyes(self) -> bool:
        """The user who triggered a retrain run may not approve its challenger."""
        return self.approval == "four_eyes"

    @field_validator("metric")
    @classmethod
    def _no_mape(cls, value: str | None) -> str | None:
        if value == "mape":
            raise ValueError("mape was replaced by wape (sum |error| / sum |actual|, finite at zero targets)")
        return value

    @field_validator("guardrails")
    @classmethod
    def _margins(cls, value: dict[str, float]) -> dict[str, float]:
        if "mape" in value:
            raise ValueError("mape was replaced by wape (sum |error| / sum |actual|, finite at zero targets)")
        bad = sorted(name for name, margin in value.items() if not 0 <= margin < float("inf"))
        if bad:
            raise ValueError(f"guardrail margins for {bad} must be finite and >= 0 (in the metric's own units)")
        return value
