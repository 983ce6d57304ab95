"""The `monitor:` section: how `monitor_<model>` watches the champion and when it triggers a retrain."""

from __future__ import annotations

from pydantic import Field, field_validator

from include.retraining.config.base import Strict, check_cron


class MonitorConfig(Strict):
    schedule: str = "@daily"
    window_days: int = Field(7, gt=0)
    drift_share: float = Field(0.3, gt=0.0, le=1.0)
    critical_features: list[str] = Field(default_factory=list)
    stattest: str | dict[str, str] | None = None
    prediction_psi: float = Field(0.2, gt=0.0)
    performance_drop: float = Field(0.05, gt=0.0)
    cooldown_hours: float = Field(24, ge=0)
    min_rows: int = Field(200, ge=1)
    # Roll `champion` back to `previous_champion` when it does significantly worse on matured labels
    # (docs/decisions.md, "Automatic rollback"): off unless the model file turns it on.
    auto_rollback: bool = False
    auto_rollback_confidence: float = Field(0.99, gt=0.5, lt=1.0)
    # At most one automatic rollback per this many days: when the gate's holdout and the matured
    # labels disagree systematically, a retrain would promote and the monitor roll back every week.
    # A rollback held back alerts; a person decides with rollback_<model>.
    auto_rollback_hold_days: int = Field(28, ge=1)
    max_rows: int = Field(
        20_000, gt=1000, description="rows sampled per window for Evidently (above 1000, where it uses distance tests)"
    )
    # Matured-window rows read for the performance figure and the rollback test; a larger window
    # is read as the warehouse's hash sample of ids (docs/decisions.md, "Monitor sample bounds").
    max_matured_rows: int = Field(200_000, ge=10_000, le=5_000_000)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)
