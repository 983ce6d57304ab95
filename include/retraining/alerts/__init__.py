"""Alerts: what to say when a gate stops a run (`Alert`), and the outbox (table `alert_outbox` of
the pipeline database) that records every alert before it is delivered, so none is lost and none
is sent twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.alerts.entry import (
        DELIVERED,
        FAILED,
        MAX_ATTEMPTS,
        PENDING,
        UNCONFIRMED,
        DeliveryUnknown,
        NotDelivered,
        OutboxEntry,
        OutboxUnavailable,
    )
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
        DEFAULT_RETENTION,
        Outbox,
        deliver,
        flush,
        import_legacy,
        read_alerts,
    )

__all__, __getattr__, __dir__ = face(__name__)
