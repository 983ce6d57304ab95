"""Backtest: what the configured policy would have done on the model's own warehouse history,
window by window on its schedules, through the real monitoring, retraining and gate steps in an
isolated namespace (`<model>__backtest`: its own MLflow store, tables and artifacts under the
output folder), against the first model left alone and a retrain promoted every cron
(docs/backtest.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.backtest.journal import Journal, JournalMismatch, journal_windows
    from include.retraining.backtest.logs import LOG, library_logs_to
    from include.retraining.backtest.plan import BacktestPlanError, PlannedWindow, check_matured, plan_windows
    from include.retraining.backtest.replay import Isolated, backtest_name
    from include.retraining.backtest.report import plot_timeline, render_html, write_outputs
    from include.retraining.backtest.runner import BacktestRequest, run_backtest
    from include.retraining.backtest.summary import POLICIES, served_models, summarize, window_figures

__all__, __getattr__, __dir__ = face(__name__)
