"""Backtest: what the configured policy would have done on the model's own warehouse history,
window by window on its schedules, through the real monitoring, retraining and gate steps in an
isolated namespace (`<model>__backtest`: its own MLflow store, tables and artifacts under the
output folder), against the first model left alone and a retrain promoted every cron
(docs/backtest.md). Rollbacks by hand can be replayed, and runs before a time can read the
source as it was then (a backup, a time-travel view)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.backtest.journal import Journal, JournalMismatch, journal_windows
    from include.retraining.backtest.logs import LOG, library_logs_to
    from include.retraining.backtest.plan import (
        HAND_REASON,
        BacktestPlanError,
        HandRollback,
        PlannedWindow,
        SourceBefore,
        check_matured,
        parse_rollback,
        parse_source_before,
        plan_windows,
    )
    from include.retraining.backtest.replay import HAND_ACTOR, Isolated, backtest_name
    from include.retraining.backtest.report import plot_timeline, render_html, write_outputs
    from include.retraining.backtest.runner import BacktestRequest, run_backtest
    from include.retraining.backtest.sources import open_sources_before
    from include.retraining.backtest.summary import POLICIES, served_models, summarize, window_figures

__all__, __getattr__, __dir__ = face(__name__)
