"""Degradation alerts that do not depend on a retrain: the champion's primary metric on matured
labels beyond `monitor.alert_below` (`alert_above` for a loss), and drift the trigger policy would
retrain on but holds back (cooldown, loop guard, a running retrain); each once per episode, the
episode read from earlier `model_monitoring` rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.degradation.alerts import DRIFT_HELD_BACK, PERFORMANCE_LIMIT, degradation_alerts
    from include.retraining.degradation.episodes import Episode, held_episode, limit_episode, next_allowed

__all__, __getattr__, __dir__ = face(__name__)
