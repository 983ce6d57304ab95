"""The pipeline's own tables: `model_monitoring` (the monitor's history and trigger ledger),
`model_promotions` (every move of alias `champion`: MLflow keeps no alias history),
`promotion_outcomes` (each promotion's promise checked on matured labels), the alert outbox's table
(`OutboxTable`), and the schema's migrations (`upgrade_schema`, and the helpers the predictions
tables share). The predictions tables themselves: `include.retraining.predictions`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.tables.alert_outbox import ALERT_OUTBOX_TABLE, OutboxTable
    from include.retraining.tables.migrate import add_column
    from include.retraining.tables.migrate import head as schema_head
    from include.retraining.tables.migrate import revision as schema_revision
    from include.retraining.tables.migrate import timestamp as timestamp_type
    from include.retraining.tables.migrate import upgrade as upgrade_schema
    from include.retraining.tables.monitoring import (
        MONITORING_TABLE,
        MonitoringHistory,
        latest_monitoring_row,
        mark_trigger_emitted,
        monitoring_table,
        read_history,
        read_monitoring,
        replace_monitoring_row,
    )
    from include.retraining.tables.outcomes import (
        OUTCOMES_TABLE,
        PromotionOutcomeRow,
        outcome_of,
        outcomes_table,
        read_outcomes,
        record_outcome,
    )
    from include.retraining.tables.promotions import (
        PROMOTIONS_TABLE,
        SCHEDULER,
        PromotionAction,
        PromotionRecord,
        action_counts,
        append_once,
        history,
        latest,
    )

__all__, __getattr__, __dir__ = face(__name__)
