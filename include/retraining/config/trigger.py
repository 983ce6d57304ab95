"""The `trigger:` section: when the monitor's evidence is enough to retrain.

Where each default comes from: docs/decisions.md, "The trigger policy" (measured by
`make bench-decisions`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.retraining.config.base import Strict


class TriggerConfig(Strict):
    # Benjamini-Hochberg false discovery rate across the monitored columns' p-values.
    fdr: float = Field(0.01, gt=0.0, lt=1.0)
    # A significant column counts as drifted only from this effect size on: normed Wasserstein
    # (numeric, in reference SDs) or total variation distance (categorical).
    min_effect: float = Field(0.1, ge=0.0)
    # Importance-weighted drift (sum of importance x effect over drifted columns) that retrains.
    weighted_drift: float = Field(0.1, gt=0.0)
    # ... and that retrains even when matured labels say the champion performs as before.
    weighted_drift_large: float = Field(0.2, gt=0.0)
    # Persistence: drift in at least `persistence_k` of the last `persistence_n` monitoring runs.
    persistence_k: int = Field(1, ge=1)
    persistence_n: int = Field(1, ge=1)
    # Loop guard: triggers on the same drift while the champion stays the same.
    max_triggers_per_drift: int = Field(2, ge=1)
    retrigger_after_days: float = Field(14.0, ge=0.0)
    # Newly drifted columns carrying this much importance make it a different drift.
    new_drift_importance: float = Field(0.1, gt=0.0, le=1.0)
    # Rows of the reference scored per column to measure the champion's sensitivity to it.
    importance_rows: int = Field(2000, ge=100)
    # A second reference beside the champion's training data: a column counts as drifted only
    # when it drifted against both ("season_ago": the same window `season_days` earlier;
    # "previous_window": the window just before this one; "none": the champion's data alone).
    seasonal_reference: Literal["none", "season_ago", "previous_window"] = "season_ago"
    season_days: int = Field(364, ge=7, le=3660)

    @model_validator(mode="after")
    def _consistent(self) -> TriggerConfig:
        if self.persistence_k > self.persistence_n:
            raise ValueError(f"persistence_k ({self.persistence_k}) must be <= persistence_n ({self.persistence_n})")
        if self.weighted_drift_large < self.weighted_drift:
            raise ValueError("weighted_drift_large must be >= weighted_drift")
        return self
