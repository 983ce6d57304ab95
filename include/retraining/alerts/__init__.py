"""Alerts: what to say when a gate stops a run (`Alert`), and the outbox that records every alert
before it is delivered, so none is lost and none is sent twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.alerts.message import (
        Alert,
        drift_alert,
        drift_held_back_alert,
        episode_key,
        error_summary,
        escape_mrkdwn,
        extraction_stopped_alert,
        gate_blocked_alert,
        gate_key,
        performance_limit_alert,
        validation_failed_alert,
    )
    from include.retraining.alerts.outbox import (
        DELIVERED,
        FAILED,
        PENDING,
        UNCONFIRMED,
        DeliveryUnknown,
        NotDelivered,
        Outbox,
        OutboxEntry,
        deliver,
        flush,
        read_alerts,
    )

__all__, __getattr__, __dir__ = face(__name__)
