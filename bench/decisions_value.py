"""The value table of `make bench-decisions`: what each retraining policy served on the scenarios of
bench/decisions.py, one half-year of 5,000-row weekly windows each, and what it cost in retrains.

The policies are the backtest's (include/retraining/backtest/summary.py, `POLICIES`), plus two:
- `policy`: the default trigger policy (`decide`, as the decision table replays it, now with the
  champion it acts on replaced when the gate promotes) starts a retrain; the default gate
  (`promotion.judge`, one-sided 99.5% DeLong bound, holdouts pooled over `gate.pooled_windows`
  consecutive retrains against the same champion) decides on its out-of-time holdout;
- `left_alone`: the first champion, never replaced;
- `every_cron`: the weekly retrain promoted every week, no gate;
- `weekly_gated`: the weekly retrain through the same gate (the shape of a model file with a
  `schedule`, like churn.yaml; a drift trigger adds no fit: it retrains the same window);
- `oracle`: with hindsight, at every window's end "retrain and promote now" or "keep", chosen so
  the half-year's mean served metric is the highest possible (fewest retrains among equals): it
  retrains exactly when that helps, and bounds every policy here from above.
Every retrain at a window's end fits the same rows (the last TRAIN_WINDOWS windows whose labels
have matured) with the same seed, so the policies differ only in which fits they serve. A model
trained at the end of window t serves window t + 1 on; the served metric is the window's ROC AUC
on all its labels (known to the harness, never to a decision).

Not the backtest's runner: it replays through the warehouse and MLflow at ~10 s a window (docs/
benchmarks.md, "Backtest"), ~35 min for one half-year of every scenario; this replays the same
decision and gate code on arrays in seconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bench.decisions import (
    SCENARIOS,
    START,
    WINDOWS,
    Champion,
    Observed,
    Replay,
    Scenario,
    draw,
    monitor_decision,
    reference,
    seasonal_rows,
)
from bench.decisions_tables import VALUE_POLICIES
from include.retraining.common import sample_rows
from include.retraining.config import GateConfig, MonitorConfig, TriggerConfig, load_model_config
from include.retraining.drift import column_tests, prediction_drift, sorted_reference
from include.retraining.learning import metric_value
from include.retraining.promotion import HoldoutEvidence, judge, pool_evidence

SECTION = "## The value of the trigger policy"
VALUE_ROWS = 5_000
TRAIN_WINDOWS = 4  # 20,000 rows a retrain at 5,000 a window: the first champion's reference size
ROW_STEP = 1_000_000  # row timestamps: window * ROW_STEP + row, ordered as the pooling needs


@dataclass
class Served:
    """One policy over one half-year: the metric it served per window, its fits and promotions."""

    metrics: list[float] = field(default_factory=list)
    retrains: int = 0
    promotions: int = 0


@dataclass
class HalfYear:
    """One scenario's half-year: the windows (with the weeks before it), the season-ago rows and
    the weekly retrains, fitted once each and shared by every policy."""

    scenario: Scenario
    windows: dict[int, tuple[pd.DataFrame, np.ndarray]]
    season: dict[int, pd.DataFrame]
    first: Champion
    seed: int
    _fits: dict[int, Champion] = field(default_factory=dict)
    _served: dict[tuple[int, int], float] = field(default_factory=dict)

    def retrain(self, t: int) -> Champion:
        """The weekly retrain at the end of window t: the last TRAIN_WINDOWS matured windows."""
        if t not in self._fits:
            last = t - self.scenario.label_delay
            parts = [self.windows[s] for s in range(last - TRAIN_WINDOWS + 1, last + 1)]
            frame = pd.concat([p[0] for p in parts], ignore_index=True)
            y = np.concatenate([p[1] for p in parts])
            self._fits[t] = Champion(frame, y, self.seed + t, out_of_time=True, trained_until=last)
        return self._fits[t]

    def auc(self, model: Champion, t: int) -> float:
        """The served metric of `model` on window t: ROC AUC on all its labels (cached: the oracle
        asks for every model on every later window)."""
        key = (id(model), t)
        if key not in self._served:
            frame, y = self.windows[t]
            self._served[key] = metric_value("roc_auc", y, model.scores(frame))
        return self._served[key]


def half_year(scenario: Scenario, seed: int) -> HalfYear:
    rng = np.random.default_rng([seed, VALUE_ROWS])
    ref, y = reference(rng, scenario)
    first = Champion(ref, y, seed)
    earliest = -scenario.label_delay - TRAIN_WINDOWS
    windows = {t: draw(rng, VALUE_ROWS, t, scenario) for t in range(earliest, WINDOWS)}
    season = seasonal_rows(rng, VALUE_ROWS, scenario, windows)["season_ago"]
    return HalfYear(scenario, windows, season, first, seed)


def left_alone(year: HalfYear) -> Served:
    return Served([year.auc(year.first, t) for t in range(WINDOWS)])


def every_cron(year: HalfYear) -> Served:
    served = Served([year.auc(year.first, 0)])
    for t in range(1, WINDOWS):
        served.metrics.append(year.auc(year.retrain(t - 1), t))
    served.retrains = served.promotions = WINDOWS - 1
    return served


def oracle(year: HalfYear) -> Served:
    """With hindsight, the sequence of "keep" or "retrain and promote now" at each window's end that
    serves the highest mean metric, with the fewest retrains among equals: an upper bound of every
    policy here, since each of them only ever promotes the retrain of the window just ended.
    Dynamic programming over which model is in force (the first, or the retrain of window s)."""
    best: dict[int, tuple[float, int]] = {-1: (year.auc(year.first, 0), 0)}  # model -> (total, retrains)
    for t in range(1, WINDOWS):
        total, retrains = max(best.values(), key=lambda v: (v[0], -v[1]))
        best = {m: (v[0] + year.auc(_model(year, m), t), v[1]) for m, v in best.items()}
        best[t - 1] = (total + year.auc(year.retrain(t - 1), t), retrains + 1)
    total, retrains = max(best.values(), key=lambda v: (v[0], -v[1]))
    return Served([total / WINDOWS] * WINDOWS, retrains, retrains)


def _model(year: HalfYear, index: int) -> Champion:
    return year.first if index < 0 else year.retrain(index)


@dataclass
class Gate:
    """The default gate with its pooled evidence: decisions against the current champion since it
    was promoted (its tenure), each holdout's rows with their timestamps."""

    config: Any
    since: int = 0
    evidence: list[HoldoutEvidence] = field(default_factory=list)

    def promotes(self, t: int, challenger: Champion, champion: Champion, version: str) -> bool:
        stamps = _row_stamps(challenger.trained_until)[-len(challenger.holdout_y) :]
        current = HoldoutEvidence(
            f"t{t}", version, "bench", stamps, challenger.holdout_y,
            challenger.holdout_scores, champion.scores(challenger.holdout), started_at=t,
        )  # fmt: skip
        cutoff = (champion.trained_until + 1) * ROW_STEP - 1  # after every row it trained on
        pooled = pool_evidence(current, self.evidence, self.config.gate.pooled_windows, cutoff, since=self.since)
        self.evidence.append(current)
        metric = self.config.primary_metric
        mine = {metric: challenger.holdout_auc}
        theirs = {metric: metric_value(metric, challenger.holdout_y, current.champion)}
        decision = judge(self.config, current.y, current.challenger, current.champion, mine, theirs, pooled)
        if decision.promote:
            self.since, self.evidence = t + 1, []
        return decision.promote


def _row_stamps(last: int) -> np.ndarray:
    """The ordered timestamps of a retrain's rows (windows last - TRAIN_WINDOWS + 1 .. last)."""
    windows = np.arange(last - TRAIN_WINDOWS + 1, last + 1)
    return (np.repeat(windows, VALUE_ROWS) * ROW_STEP + np.tile(np.arange(VALUE_ROWS), TRAIN_WINDOWS)).astype("int64")


def gated(year: HalfYear, monitor: MonitorConfig, config: Any, weekly: bool) -> Served:
    """The trigger policy (or, `weekly`, every weekly retrain) through the gate: the monitor at each
    window's end on the champion in force, a retrain when it triggers, promoted when the gate says."""
    replay, gate = Replay(TriggerConfig()), Gate(config)
    champion, version, served = year.first, 1, Served()
    ref, presorted = _reference(champion, monitor, year.seed)
    for t in range(WINDOWS):
        frame, _ = year.windows[t]
        served.metrics.append(year.auc(champion, t))
        matured = t - year.scenario.label_delay
        drop = champion.holdout_auc - year.auc(champion, matured)
        psi = prediction_drift(champion.holdout_scores, champion.scores(frame))
        tests = column_tests(ref, frame, list(frame.columns), [], presorted=presorted)
        observed = Observed(frame, tests, len(ref), psi, drop, START + timedelta(weeks=t))
        decision, _ = monitor_decision(replay, champion, str(version), observed, year.season[t], monitor)
        if t == WINDOWS - 1 or not (weekly or decision.retrain):
            continue
        challenger = year.retrain(t)
        served.retrains += 1
        if gate.promotes(t, challenger, champion, str(version)):
            champion, version = challenger, version + 1
            served.promotions += 1
            ref, presorted = _reference(champion, monitor, year.seed)
    return served


def _reference(champion: Champion, monitor: MonitorConfig, seed: int) -> tuple[pd.DataFrame, Any]:
    """The champion's training rows as the monitor samples them, presorted for the column tests."""
    ref = sample_rows(champion.reference, monitor.max_rows, seed)
    return ref, sorted_reference(ref, list(ref.columns))


def gate_config() -> Any:
    """churn.yaml with the gate's defaults (its floor of 0.70 is the demo's choice, not a default)."""
    from bench.decisions import ROOT

    churn = load_model_config(ROOT / "include" / "models" / "churn.yaml")
    return churn.model_copy(update={"gate": GateConfig(metric="roc_auc")})


def measure_value_unit(unit: tuple[int, int, int, MonitorConfig]) -> list[tuple[str, str, Served]]:
    """One scenario's one half-year under every policy: (scenario, policy, what it served)."""
    s_index, rep, seed, monitor = unit
    scenario = SCENARIOS[s_index]
    year = half_year(scenario, seed + 7919 * rep + s_index)
    config = gate_config()
    served = {
        "policy": gated(year, monitor, config, weekly=False),
        "left_alone": left_alone(year),
        "every_cron": every_cron(year),
        "weekly_gated": gated(year, monitor, config, weekly=True),
        "oracle": oracle(year),
    }
    print(f"{scenario.name}, value run {rep + 1} done", file=sys.stderr, flush=True)
    return [(scenario.name, policy, served[policy]) for policy in VALUE_POLICIES]


def _memory() -> str:
    pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return f"{pages * size / 2**30:.1f} GB RAM"


def render_value(value: str, passed: str, args: argparse.Namespace, elapsed: float, load: tuple[float, float]) -> str:
    from bench.decisions import HOLDOUT_ROWS

    return f"""{SECTION}

Measured with `make bench-decisions` (`bench/decisions.py --only value --value-reps {args.value_reps} --seed {args.seed} --jobs {args.jobs}`,
{datetime.now(UTC):%Y-%m-%d}, {elapsed:.0f} s on {platform.machine()}, {os.cpu_count()} CPUs, {_memory()}, Python {platform.python_version()};
load average {load[0]:.1f} at the start, {load[1]:.1f} at the end). The scenarios of "The trigger policy" above, {args.value_reps} half-year(s) of {VALUE_ROWS:,}-row windows, now with
retrains that are fitted and can be promoted (`bench/decisions_value.py`). Every retrain at a window's end
fits the last {TRAIN_WINDOWS} windows whose labels have matured ({TRAIN_WINDOWS * VALUE_ROWS:,} rows, the last
{HOLDOUT_ROWS:,} its out-of-time holdout) and serves from the next window on; the policies differ only in
which of these fits they serve. The policies are the backtest's (`left_alone`, `every_cron`, `policy`, as
docs/backtest.md defines them) and two more: `weekly_gated`, every weekly retrain through the gate (a model
file with a `schedule`, like churn.yaml), and `oracle`, with hindsight the sequence of "keep" or "retrain and
promote now" at each window's end that serves the highest mean metric, fewest retrains among equals (an
upper bound of the others, which only ever promote the retrain of the window just ended). `policy` is the
default trigger policy: the monitor at each window's end on the champion in force (its reference, importance
and history follow a promotion), a retrain when it triggers, promoted when the default gate says so (DeLong
at 99.5%, holdouts pooled over `gate.pooled_windows: 4` retrains against the same champion). Each cell: mean
served ROC AUC over the {WINDOWS} windows (all labels of each window), then (retrains / promotions) per
half-year, means over the half-years; the last row averages the scenarios.

{value}

{passed}

Where the trigger policy alone falls short, and why: under concept drift the covariates do not move,
so it triggers on the drop of the matured metric, a label delay after the change; that retrain fits the
last {TRAIN_WINDOWS} matured windows less its holdout (the newest {HOLDOUT_ROWS:,} rows), which then hold few or no
post-change rows, so the gate blocks it or promotes a model that has half learned the new concept. The
guards against retrain storms (cooldown, loop guard, at most 2 triggers after a persistent drift: "The
trigger policy" above) then hold it there, while every cron refits on more post-change rows each week.
Covariate shifts whose ranking the champion survives, and seasonality, cost it little or nothing
against every cron. The weekly retrain through the gate (`weekly_gated`, the shape of a model file with a
`schedule`, as churn.yaml) closes the gap with a few promotions (its column), at a fit a week: the fits
are what the trigger policy saves, the promotions are what the gate keeps rare. So a model whose concept can change under
stable inputs should keep a `schedule` beside the drift trigger, as the shipped churn.yaml does.

Not the backtest's runner itself: it replays through the warehouse and MLflow at about 10 s a window
([benchmarks.md](benchmarks.md#backtest)), some 35 minutes for one half-year of each scenario; this
replays the same trigger and gate code on arrays. The backtest's own three-policy table on the churn
history is in benchmarks.md ("Backtest").
"""
