"""Drift and the retrain decision: per-column drift evidence with multiple-testing control and
the champion's own sensitivity to each column (what decides), Evidently's report of the same
windows (what a person reads, with the decision's verdicts beside it), the prediction PSI, and
the trigger policy that turns the evidence into a retrain or a logged reason not to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.drift.decision import DriftDecision, History, decide
    from include.retraining.drift.evidence import (
        NO_SEASONAL,
        ColumnEvidence,
        DriftEvidence,
        SeasonalEvidence,
        column_tests,
        drift_evidence,
        score_sensitivity,
        sorted_reference,
    )
    from include.retraining.drift.policy import Hold, HoldKind, MonitorOutcome, WindowRecord, psi_threshold
    from include.retraining.drift.report import DEFAULT_MAX_ROWS, compute_data_drift, summarize_snapshot
    from include.retraining.drift.stats import class_drift, prediction_drift
    from include.retraining.drift.summary import ColumnDrift, DriftInputError, DriftSummary
    from include.retraining.drift.verdict import ColumnVerdict, column_verdicts, disagreement

__all__, __getattr__, __dir__ = face(__name__)
