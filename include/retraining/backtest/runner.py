"""The backtest loop: plan the windows, replay each window's runs in time order (each monitor
fire, the drift retrain it triggers, then the scheduled retrain at the window's end, and each
rollback by hand after the runs at its time), journal every run and window as it finishes, then
write the summary, the picture and the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from include.retraining.backtest.journal import Journal
from include.retraining.backtest.plan import HandRollback, PlannedWindow, SourceBefore, check_matured, plan_windows
from include.retraining.backtest.replay import Isolated, monitor_run, retrain_run, rollback_run
from include.retraining.backtest.served import ServedScorer
from include.retraining.backtest.summary import POLICIES, PROMOTED, in_force, served_models, summarize, window_figures
from include.retraining.common import Settings, as_utc
from include.retraining.config import ModelConfig
from include.retraining.warehouse import Warehouse

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BacktestRequest:
    """What to replay and where to write it. `max_windows` stops after that many new windows
    (a rerun continues); `monitor_cron` replaces the monitor's own schedule (fewer fires, faster);
    `rollbacks` are rollbacks by hand to replay; `sources_before` the source as it was before
    each time (the earlier states' URLs)."""

    start: datetime
    end: datetime
    out: Path
    monitor_cron: str | None = None
    max_windows: int | None = None
    rollbacks: tuple[HandRollback, ...] = ()
    sources_before: tuple[SourceBefore, ...] = ()

    def plan(self, config: ModelConfig) -> list[PlannedWindow]:
        return plan_windows(config, self.start, self.end, self.monitor_cron, self.rollbacks, self.sources_before)

    def identity(self, config: ModelConfig, earlier: tuple[tuple[datetime, Any], ...] = ()) -> dict[str, Any]:
        """What a resumed backtest must share with the one it continues: the dates, the schedules,
        the whole model file, the rollbacks by hand and the earlier sources (by `display`: no
        password is written). The last two only when given, so folders of earlier backtests resume."""
        identity: dict[str, Any] = {
            "model": config.name,
            "start": as_utc(self.start).isoformat(),
            "end": as_utc(self.end).isoformat(),
            "monitor_cron": self.monitor_cron or config.monitor.schedule,
            "config": json.loads(config.model_dump_json()),
        }
        if self.rollbacks:
            identity["rollbacks"] = [[r.at.isoformat(), r.reason] for r in sorted(self.rollbacks, key=lambda r: r.at)]
        if earlier:
            identity["sources_before"] = [[until.isoformat(), source.display] for until, source in earlier]
        return identity


def run_backtest(
    config: ModelConfig,
    settings: Settings,
    source: Warehouse,
    request: BacktestRequest,
    now: datetime,
    say: Progress,
    earlier: tuple[tuple[datetime, Warehouse], ...] = (),
) -> dict[str, Any]:
    """Replay the planned windows not yet in the journal; the summary of every finished window.
    `earlier`: the sources of `request.sources_before`, opened and checked (`open_sources_before`)."""
    from include.retraining.backtest.report import write_outputs

    windows = request.plan(config)
    check_matured(config, windows, now)
    journal = Journal.open(request.out, request.identity(config, earlier))
    iso = Isolated.create(config, settings, source, request.out, earlier)
    scorer = ServedScorer(iso)
    replayed = 0
    for planned in windows:
        if planned.index in journal.windows:
            continue
        if request.max_windows is not None and replayed >= request.max_windows:
            say(f"stopped after {replayed} windows (--max-windows); rerun the same command to continue")
            break
        record = _replay_window(iso, journal, scorer, planned, say)
        replayed += 1
        say(_progress(record, len(windows)))
    records = [journal.windows[i] for i in sorted(journal.windows)]
    summary = summarize(records, config.primary_metric, len(windows))
    write_outputs(request.out, config, records, summary)
    return summary


def _hand(
    iso: Isolated, journal: Journal, pending: list[HandRollback], before: datetime | None
) -> list[dict[str, Any]]:
    """The pending rollbacks by hand at times before `before` (None: all), taken off `pending`."""
    runs = []
    while pending and (before is None or pending[0].at < before):
        hand = pending.pop(0)
        key = f"rollback@{hand.at.isoformat()}"
        runs.append(_journaled(iso, journal, key, lambda hand=hand: rollback_run(iso, hand.at, hand.reason)))
    return runs


def _replay_window(
    iso: Isolated, journal: Journal, scorer: ServedScorer, planned: PlannedWindow, say: Progress
) -> dict[str, Any]:
    """The window's runs in time order; a rollback by hand after the runs at its time."""
    runs: list[dict[str, Any]] = []
    pending = sorted(planned.rollbacks, key=lambda r: r.at)
    for at in planned.monitor_fires:
        runs += _hand(iso, journal, pending, at)
        monitored = _journaled(iso, journal, f"monitor@{at.isoformat()}", lambda at=at: monitor_run(iso, at))
        runs.append(monitored)
        if monitored.get("trigger"):
            end = datetime.fromisoformat(monitored["drift_window_end"])
            trigger = f"drift: {monitored['drift_reason']}"
            drift_retrain = lambda end=end, trigger=trigger: retrain_run(iso, end, trigger)  # noqa: E731
            runs.append(_journaled(iso, journal, f"drift@{at.isoformat()}", drift_retrain))
    runs += _hand(iso, journal, pending, planned.end)
    runs.append(
        _journaled(
            iso, journal, f"retrain@{planned.end.isoformat()}", lambda: retrain_run(iso, planned.end, "schedule")
        )
    )
    runs += _hand(iso, journal, pending, None)
    return journal.add_window(_window_record(iso, journal, scorer, planned, runs))


def _journaled(iso: Isolated, journal: Journal, key: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A run the journal holds is not run again; a new one is journaled with the champion after it.

    A run killed after its promotion and before its journal line is redone: the steps then find
    its model already champion ("unchanged"); the move is still this run's, and recorded as such."""
    if key in journal.runs:
        return journal.runs[key]
    before = next((r["champion_after"] for r in reversed(journal.runs.values())), None)
    record = {**run(), "champion_after": iso.champion()}
    moved = record["champion_after"] != before and record["kind"] == "retrain"
    if moved and record.get("outcome") not in PROMOTED:
        record = {
            **record,
            "outcome": "promoted",
            "reason": f"promoted by an earlier, killed attempt: {record['reason']}",
        }
    return journal.add_run(key, record)


def _window_record(
    iso: Isolated, journal: Journal, scorer: ServedScorer, planned: PlannedWindow, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The window's rows scored with each policy's models in force, and its runs' figures."""
    moves = served_models(list(journal.runs.values()))
    frame = scorer.rows(planned.window)
    metrics = {f"metric_{p}": scorer.metric(frame, moves[p]) for p in POLICIES}
    champion = next((r["champion_after"] for r in reversed(runs) if r.get("champion_after")), None)
    first = next((r for r in journal.runs.values() if r.get("outcome") == "promoted"), None)
    return {
        "index": planned.index,
        "start": planned.start.isoformat(),
        "end": planned.end.isoformat(),
        "rows": len(frame),
        "runs": runs,
        "champion": champion["version"] if champion else None,
        "served": {
            p: [_label(iso, *move) for move in in_force(moves[p], *scorer.served_between(frame, planned.window))]
            for p in POLICIES
        },
        **metrics,
        **window_figures(runs),
        "first_model_seconds": first.get("train_seconds") if first and first in runs else None,
    }


def _label(iso: Isolated, at: datetime, uri: str) -> str:
    """`v3` for a version of the isolated registered model; an unregistered model (every cron's)
    by the day it was trained."""
    prefix = f"models:/{iso.config.name}/"
    return f"v{uri[len(prefix) :]}" if uri.startswith(prefix) else f"trained {at:%Y-%m-%d}"


def _progress(record: dict[str, Any], total: int) -> str:
    figures = ", ".join(f"{p} {record[f'metric_{p}']:.3f}" for p in POLICIES if record.get(f"metric_{p}") is not None)
    kinds = [f"{r['kind']}:{r.get('outcome')}" for r in record["runs"]]
    return (
        f"window {record['index'] + 1}/{total} ending {record['end'][:16]}: {record['rows']} rows; "
        f"{' '.join(kinds)}; champion v{record['champion']}; {figures or 'nothing served yet'}"
    )
