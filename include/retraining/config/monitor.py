"""The `monitor:` section: how `monitor_<model>` watches the champion and when it triggers a retrain."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator

from include.retraining.config.base import Strict, check_cron


@dataclass(frozen=True)
class AlertLimit:
    """`monitor.alert_below` or `monitor.alert_above`, as it applies to the primary metric."""

    key: str
    metric: str
    value: float
    higher_is_better: bool

    def crossed(self, value: float | None) -> bool:
        """Whether a measured value is beyond the bound; an unknown value (None, NaN) is not."""
        if value is None or value != value:
            return False
        return value < self.value if self.higher_is_better else value > self.value

    @property
    def words(self) -> str:
        """ "below the alert floor 0.7000" / "above the alert ceiling 12.0000"."""
        side = "below the alert floor" if self.higher_is_better else "above the alert ceiling"
        return f"{side} {self.value:.4f} (monitor.{self.key})"


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
    # An absolute bound of the primary metric on matured labels: crossing it alerts once per
    # episode, whatever the trigger policy decides (docs/decisions.md, "Degradation alerts").
    # alert_below for metrics where higher is better, alert_above for losses (rmse, log_loss, ...).
    alert_below: float | None = Field(
        None, allow_inf_nan=False, description="alert once when the primary metric (higher is better) falls below"
    )
    alert_above: float | None = Field(
        None, allow_inf_nan=False, description="alert once when the primary metric (lower is better) rises above"
    )

    def alert_limit(self, metric: str, higher_is_better: bool) -> AlertLimit | None:
        """The bound in effect for `metric`; None when none is set. `model.py` has refused the
        key that does not fit the metric's direction, so at most one of the two is set."""
        value = self.alert_below if higher_is_better else self.alert_above
        if value is None:
            return None
        return AlertLimit("alert_below" if higher_is_better else "alert_above", metric, value, higher_is_better)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)
