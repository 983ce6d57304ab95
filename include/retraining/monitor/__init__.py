"""The steps of `monitor_<model>`, one function per task (reference, current, seasonal_reference,
data_drift, performance, decide, report, trigger, auto_rollback, verify_promotion), and what they
hand each other:
the champion and its training data, the window from the warehouse and its matured-label twin,
drift evidence with Evidently's report, the champion's metric on what it served, and the retrain
decision recorded in `model_monitoring` with its MLflow run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.monitor.champion import ChampionScorer
    from include.retraining.monitor.contracts import (
        ChampionUnusable,
        CurrentWindow,
        DriftEvent,
        DriftResult,
        MonitoringSkipped,
        Performance,
        Reference,
        Reported,
        SeasonalWindow,
    )
    from include.retraining.monitor.estimate import PerformanceEstimate, calibrator, expected_roc_auc
    from include.retraining.monitor.evidence import HISTORY_ROWS
    from include.retraining.monitor.record import MonitoringResults
    from include.retraining.monitor.rollback import auto_rollback
    from include.retraining.monitor.seasonal import seasonal_reference
    from include.retraining.monitor.steps import (
        current,
        data_drift,
        decide,
        drift_event,
        mark_triggered,
        performance,
        reference,
        report,
    )
    from include.retraining.monitor.verification import NothingToVerify, verify_promotion
    from include.retraining.monitor.verification import summary as verification_summary

__all__, __getattr__, __dir__ = face(__name__)
