"""Benchmark: the monitor's retrain decisions, measured on simulated half-years.

    .venv/bin/python bench/decisions.py [--reps 3] [--value-reps 2] [--seed 20261125] [--out docs/decisions.md] [--jobs 1]

(The time, machine and load of the last run are in the section it writes.)

Each scenario is 26 weekly windows ("a half-year") of 20 numeric features, replayed at 500,
5,000 and 50,000 rows per window. The champion is a HistGradientBoosting classifier fitted on a
20,000-row reference (14,000 train, 6,000 holdout); its holdout scores are the reference for
prediction drift. Every window goes through the production decision code, as the monitor's
`data_drift` and `decide` steps run it: `common.sample_rows` (reference) and `prediction_drift`,
`drift.column_tests` / `score_sensitivity` / `drift_evidence` (the fast path: scipy's KS,
chi-square and Wasserstein per column instead of an Evidently report per window, which would take
~1.5-30 s a window), `learning.metric_value` on matured labels and `drift.decide` with the
trigger policy, its history kept as `model_monitoring` would keep it. The champion is never
replaced (every retrain is taken as blocked by the gate): the worst case for repeated triggers.
The default `trigger.seasonal_reference` replays every scenario; the other modes replay the same
windows of `COMPARED` (the seasonal reference's rows: the same week a year earlier, or the previous
window). Beside each decision the harness computes the performance estimate (labels not matured)
and the window's true ROC AUC; neither is an input of any decision.

Writes the section "## The trigger policy" of docs/decisions.md, then (bench/decisions_value.py) the
section "## The value of the trigger policy": what each policy served, against every cron and an oracle.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# One OpenMP thread: HistGradientBoosting's default threads on a busy 2-core machine run many
# times slower than one, and the workers are given one thread each in production too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.decisions_tables import (  # noqa: E402
    acceptance,
    estimate_table,
    seasonal_table,
    table,
    value_acceptance,
    value_table,
)
from bench.docs_section import write_section  # noqa: E402
from include.retraining.common import sample_rows  # noqa: E402
from include.retraining.config import MonitorConfig, TriggerConfig  # noqa: E402
from include.retraining.drift import (  # noqa: E402
    DriftDecision,
    History,
    SeasonalEvidence,
    WindowRecord,
    column_tests,
    decide,
    drift_evidence,
    prediction_drift,
    score_sensitivity,
    sorted_reference,
)
from include.retraining.learning import metric_value  # noqa: E402
from include.retraining.monitor import calibrator, expected_roc_auc  # noqa: E402

SECTION = "## The trigger policy"
N_FEATURES, WINDOWS, REF_ROWS, HOLDOUT_ROWS = 20, 26, 20_000, 6_000
SIZES = (500, 5_000, 50_000)
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
# Two features carry most of the signal, four some, fourteen almost none.
WEIGHTS = np.array([1.2, 1.0, 0.35, 0.3, 0.25, 0.2] + [0.03] * 14)
INTERCEPT = -1.0
IMPORTANT, UNIMPORTANT = [0, 1], [15, 16, 17, 18, 19]
CHANGE_AT = 8  # the window in which a scripted change starts
START = datetime(2026, 1, 5, 2, tzinfo=UTC)
SEASON_AMPLITUDE = 0.25  # yearly swing of every feature's mean, in SDs
SEASON_WEEKS = 52  # `trigger.season_days: 364`
MODES = ("none", "season_ago", "previous_window")  # `trigger.seasonal_reference`, each measured
# The scenarios every mode replays (the default mode replays all): a window a day costs seconds.
COMPARED = (
    "stationary",
    "yearly seasonality",
    "abrupt 0.5-SD shift, 2 important features",
    "gradual drift to 1 SD, 2 important features",
)
WEEKDAY_AMPLITUDE = 0.3


@dataclass(frozen=True)
class Scenario:
    name: str
    real_change: bool  # False: every trigger is a false alarm
    label_delay: int = 1  # windows until labels mature
    season: str = ""  # "weekly" | "yearly"
    shift: dict[int, float] = field(default_factory=dict)  # feature -> mean shift (SD) from CHANGE_AT
    gradual: bool = False  # shift grows linearly to its value at the last window
    weights: dict[int, float] = field(default_factory=dict)  # concept drift from CHANGE_AT


SCENARIOS = [
    Scenario("stationary", False),
    Scenario("weekly seasonality", False, season="weekly"),
    Scenario("yearly seasonality", False, season="yearly"),
    Scenario("unimportant features shift 0.5 SD", False, shift={i: 0.5 for i in UNIMPORTANT}),
    Scenario("abrupt 0.5-SD shift, 2 important features", True, shift={i: 0.5 for i in IMPORTANT}),
    Scenario("gradual drift to 1 SD, 2 important features", True, shift={i: 1.0 for i in IMPORTANT}, gradual=True),
    Scenario("concept drift, no covariate shift", True, weights={0: 0.0, 2: 1.2}),
    Scenario("concept drift, labels 3 windows late", True, label_delay=3, weights={0: 0.0, 2: 1.2}),
]


def draw(rng: np.random.Generator, n: int, t: float, scenario: Scenario) -> tuple[pd.DataFrame, np.ndarray]:
    """n rows of window t (t = None-like negative values: before the half-year, unchanged)."""
    x = rng.normal(size=(n, N_FEATURES))
    if scenario.season == "weekly":
        day = rng.integers(0, 7, n)
        x[:, :5] += WEEKDAY_AMPLITUDE * np.sin(2 * np.pi * day / 7)[:, None]
    if scenario.season == "yearly":
        x += SEASON_AMPLITUDE * np.sin(2 * np.pi * t / 52)
    weights = WEIGHTS.copy()
    if t >= CHANGE_AT:
        for i, value in scenario.shift.items():
            x[:, i] += value * ((t - CHANGE_AT + 1) / (WINDOWS - CHANGE_AT) if scenario.gradual else 1.0)
        for i, value in scenario.weights.items():
            weights[i] = value
    logit = INTERCEPT + x @ weights
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(x, columns=FEATURES), y


def reference(rng: np.random.Generator, scenario: Scenario) -> tuple[pd.DataFrame, np.ndarray]:
    """The champion's training data: for yearly seasonality two full years, else the weeks before."""
    if scenario.season != "yearly":
        return draw(rng, REF_ROWS, -1, scenario)
    parts = [draw(rng, REF_ROWS // 104, week, scenario) for week in range(-104, 0)]
    return pd.concat([p[0] for p in parts], ignore_index=True), np.concatenate([p[1] for p in parts])


class Champion:
    """A model fitted on `frame` less its holdout: HOLDOUT_ROWS random rows, or with `out_of_time`
    the last HOLDOUT_ROWS (a retrain's holdout, as `training.holdout_fraction` takes it).
    `trained_until`: the last window of its rows (the first champion's are drawn apart, before all)."""

    def __init__(
        self, frame: pd.DataFrame, y: np.ndarray, seed: int, out_of_time: bool = False, trained_until: int = -(10**6)
    ) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        mask = np.zeros(len(frame), bool)
        if out_of_time:
            mask[-HOLDOUT_ROWS:] = True
        else:
            mask[np.random.default_rng(seed).permutation(len(frame))[:HOLDOUT_ROWS]] = True
        self.model = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(frame[~mask], y[~mask])
        self.reference, self.holdout, self.holdout_y = frame, frame[mask], y[mask]
        self.trained_until = trained_until
        self.holdout_scores = self.scores(frame[mask])
        self.holdout_auc = metric_value("roc_auc", y[mask], self.holdout_scores)
        self.probability = calibrator(self.holdout_scores, y[mask])  # the performance estimate's map
        self.importance = score_sensitivity(
            self.scores, frame, FEATURES, rows=TriggerConfig().importance_rows, seed=seed
        )

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame[FEATURES])[:, 1]


@dataclass(frozen=True)
class Window:
    decision: DriftDecision
    weighted: float
    psi: float
    drop: float
    auc: float | None = None  # the true ROC AUC of the window (all its labels), when measured
    estimate: float | None = None  # the performance estimate (labels not matured) of the window


def seasonal_rows(rng: np.random.Generator, rows: int, scenario: Scenario, windows: dict) -> dict[str, dict]:
    """The seasonal reference per mode and window: the same week a year earlier (before the
    half-year, so before any scripted change), or the previous window's rows."""
    season_ago = {t: draw(rng, rows, t - SEASON_WEEKS, scenario)[0] for t in range(WINDOWS)}
    return {"season_ago": season_ago, "previous_window": {t: windows[t - 1][0] for t in range(WINDOWS)}}


@dataclass
class Replay:
    """One mode's decision history over a half-year, as `model_monitoring` would keep it."""

    trigger: TriggerConfig
    history: list[WindowRecord] = field(default_factory=list)
    last_trigger: datetime | None = None
    windows: list[Window] = field(default_factory=list)


def run_half_year(
    scenario: Scenario,
    n: int,
    seed: int,
    modes: list[str],
    monitor: MonitorConfig,
    champion: Champion,
    ref: pd.DataFrame,
) -> dict[str, list[Window]]:
    """The half-year's windows replayed once per `trigger.seasonal_reference` mode: the same rows,
    scores and tests against the champion's data; each mode adds its own seasonal tests and history."""
    rng = np.random.default_rng([seed, n])
    # Rows are independent draws, so a window larger than max_rows is simulated by the max_rows
    # rows the monitor would sample from it (the decision code sees exactly that either way).
    rows = min(n, monitor.max_rows)
    windows = {t: draw(rng, rows, t, scenario) for t in range(-scenario.label_delay, WINDOWS)}
    season = seasonal_rows(rng, rows, scenario, windows)
    ref_sample = sample_rows(ref, monitor.max_rows, seed)
    presorted = sorted_reference(ref_sample, FEATURES)
    scores = {t: champion.scores(frame) for t, (frame, _) in windows.items()}
    replays = {mode: Replay(TriggerConfig(seasonal_reference=mode)) for mode in modes}
    for t in range(WINDOWS):
        now, (cur, labels) = START + timedelta(weeks=t), windows[t]
        tests = column_tests(ref_sample, cur, FEATURES, [], presorted=presorted)
        psi = prediction_drift(champion.holdout_scores, scores[t])
        drop = champion.holdout_auc - metric_value(
            "roc_auc", windows[t - scenario.label_delay][1], scores[t - scenario.label_delay]
        )
        # The true AUC (certain labels: exactly roc_auc) and the estimate: never inputs of a decision.
        auc = expected_roc_auc(scores[t], labels.astype("float64"))
        estimated = expected_roc_auc(scores[t], champion.probability(scores[t]))
        for mode, replay in replays.items():
            seasonal = season[mode][t] if mode in season else None
            observed = Observed(cur, tests, len(ref_sample), psi, drop, now)
            decision, weighted = monitor_decision(replay, champion, "1", observed, seasonal, monitor)
            replay.windows.append(Window(decision, weighted, psi, drop, auc, estimated))
    return {mode: replay.windows for mode, replay in replays.items()}


@dataclass(frozen=True)
class Observed:
    """What the monitor sees of one window: its rows, their tests against the champion's
    reference, the prediction PSI, the matured metric's drop, and when it runs."""

    rows: pd.DataFrame
    tests: Any
    n_reference: int
    psi: float
    drop: float | None
    now: datetime


def monitor_decision(
    replay: Replay,
    champion: Champion,
    version: str,
    observed: Observed,
    seasonal: pd.DataFrame | None,
    monitor: MonitorConfig,
) -> tuple[DriftDecision, float]:
    """One monitoring run's decision, as `data_drift` and `decide` make it, kept in the replay's
    history as `model_monitoring` keeps it; with the weighted drift it saw."""
    again = column_tests(seasonal, observed.rows, FEATURES, []) if seasonal is not None else None
    mode = replay.trigger.seasonal_reference
    found = drift_evidence(
        observed.tests,
        champion.importance,
        replay.trigger,
        champion_version=version,
        n_reference=observed.n_reference,
        n_current=len(observed.rows),
        seasonal_tests=again,
        seasonal=SeasonalEvidence(mode, len(seasonal) if seasonal is not None else 0),
    )
    decision = decide(
        found,
        prediction_psi=observed.psi,
        performance_drop=observed.drop,
        monitor=monitor,
        trigger=replay.trigger,
        history=History(tuple(replay.history), replay.last_trigger),
        now=observed.now,
    )
    now = observed.now
    replay.history.append(
        WindowRecord(now, version, decision.retrain, decision.drift_detected, frozenset(decision.signature))
    )
    replay.last_trigger = now if decision.retrain else replay.last_trigger
    return decision, found.weighted_drift


@dataclass
class Cell:
    triggers: list[int] = field(default_factory=list)  # per half-year
    false: list[int] = field(default_factory=list)
    signals: list[int] = field(default_factory=list)
    delays: list[int | None] = field(default_factory=list)
    after_first: list[int] = field(default_factory=list)
    quiet: list[Window] = field(default_factory=list)  # windows with nothing to detect
    changed: list[Window] = field(default_factory=list)  # windows from CHANGE_AT on
    holdout: list[float] = field(default_factory=list)  # the champion's holdout AUC per half-year
    real: bool = False

    def add(self, scenario: Scenario, windows: list[Window], holdout: float) -> None:
        self.real = scenario.real_change
        self.holdout.append(holdout)
        fired = [t for t, w in enumerate(windows) if w.decision.retrain]
        self.triggers.append(len(fired))
        self.signals.append(sum(w.decision.drift_detected for w in windows))
        self.false.append(len([t for t in fired if not scenario.real_change or t < CHANGE_AT]))
        after = [t for t in fired if scenario.real_change and t >= CHANGE_AT]
        self.delays.append(after[0] - CHANGE_AT if after else None)
        self.after_first.append(len(after))
        self.quiet += [w for t, w in enumerate(windows) if not scenario.real_change or t < CHANGE_AT]
        self.changed += windows[CHANGE_AT:]


Cells = dict[tuple[str, int], Cell]


def measure_unit(unit: tuple[int, int, int, tuple[str, ...], MonitorConfig]) -> list[tuple[str, int, str, list, float]]:
    """One scenario's one repetition at every size and mode: (scenario, size, mode, windows, holdout AUC)."""
    s_index, rep, seed, modes, monitor = unit
    scenario = SCENARIOS[s_index]
    rng = np.random.default_rng([seed, s_index, rep])
    ref, y = reference(rng, scenario)
    champion = Champion(ref, y, seed + rep)
    default = TriggerConfig().seasonal_reference
    chosen = [m for m in modes if m == default or scenario.name in COMPARED]
    found = []
    for n in SIZES:
        replayed = run_half_year(scenario, n, seed + 1000 * rep + s_index, chosen, monitor, champion, ref)
        found += [(scenario.name, n, mode, windows, champion.holdout_auc) for mode, windows in replayed.items()]
    print(f"{scenario.name}, run {rep + 1} done", file=sys.stderr, flush=True)
    return found


def measure(reps: int, seed: int, monitor: MonitorConfig, modes: tuple[str, ...], jobs: int) -> dict[str, Cells]:
    """Cells per `trigger.seasonal_reference` mode; every mode replays the same windows and champion
    (the default replays every scenario, the others `COMPARED`). `jobs` > 1: units in processes."""
    from concurrent.futures import ProcessPoolExecutor

    units = [(s, rep, seed, modes, monitor) for s in range(len(SCENARIOS)) for rep in range(reps)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(measure_unit, units))
    else:
        done = [measure_unit(unit) for unit in units]
    by_name = {s.name: s for s in SCENARIOS}
    results: dict[str, Cells] = {mode: {} for mode in modes}
    for name, n, mode, windows, holdout in sorted(
        (row for rows in done for row in rows), key=lambda r: ([s.name for s in SCENARIOS].index(r[0]), r[1])
    ):
        results[mode].setdefault((name, n), Cell()).add(by_name[name], windows, holdout)
    return results


def measure_value(reps: int, seed: int, monitor: MonitorConfig, jobs: int) -> list:
    """The value table's half-years (bench/decisions_value.py), `jobs` > 1: in processes."""
    from concurrent.futures import ProcessPoolExecutor

    from bench.decisions_value import measure_value_unit

    units = [(s, rep, seed, monitor) for s in range(len(SCENARIOS)) for rep in range(reps)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(measure_value_unit, units))
    else:
        done = [measure_value_unit(unit) for unit in units]
    return [row for rows in done for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "decisions.md")
    parser.add_argument("--jobs", type=int, default=1, help="processes (the scenarios' repetitions in parallel)")
    parser.add_argument("--value-reps", type=int, default=2, help="half-years per scenario of the value table")
    parser.add_argument(
        "--only", choices=("trigger", "value"), default=None, help="one of the two sections (default: both)"
    )
    args = parser.parse_args()
    trigger, monitor = TriggerConfig(), MonitorConfig()
    if args.only in (None, "trigger"):
        started, start_load = time.perf_counter(), os.getloadavg()[0]
        results = measure(args.reps, args.seed, monitor, MODES, args.jobs)
        cells = results[trigger.seasonal_reference]
        elapsed = time.perf_counter() - started
        parts = [table(cells), acceptance(cells), seasonal_table(results, trigger), estimate_table(cells)]
        print("\n\n".join(parts), f"\n{elapsed:.0f} s")
        if args.out:
            section = render(parts, args, elapsed, (start_load, os.getloadavg()[0]), trigger, monitor)
            write_section(args.out, SECTION, section, "Decisions, measured")
    if args.only in (None, "value"):
        from bench.decisions_value import SECTION as VALUE_SECTION
        from bench.decisions_value import render_value

        started, start_load = time.perf_counter(), os.getloadavg()[0]
        done = measure_value(args.value_reps, args.seed, monitor, args.jobs)
        value, figures = value_table(done, [s.name for s in SCENARIOS])
        elapsed = time.perf_counter() - started
        print(value, value_acceptance(figures), f"{elapsed:.0f} s", sep="\n\n")
        if args.out:
            section = render_value(value, value_acceptance(figures), args, elapsed, (start_load, os.getloadavg()[0]))
            write_section(args.out, VALUE_SECTION, section, "Decisions, measured")


def render(
    parts: list[str],
    args: argparse.Namespace,
    elapsed: float,
    load: tuple[float, float],
    trigger: TriggerConfig,
    monitor: MonitorConfig,
) -> str:
    decisions, passed, seasonal, estimates = parts
    return f"""{SECTION}

Measured with `make bench-decisions` (`bench/decisions.py --reps {args.reps} --seed {args.seed} --jobs {args.jobs}`,
{datetime.now(UTC):%Y-%m-%d}, {elapsed:.0f} s on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()};
load average {load[0]:.1f} at the start, {load[1]:.1f} at the end). Each scenario: {args.reps} simulated
half-year(s) of {WINDOWS} weekly windows per window size, {N_FEATURES} numeric features (two carry most of
the champion's sensitivity, four some, the other {N_FEATURES - 6} almost none), labels maturing one window late
unless said otherwise, a scripted change from window {CHANGE_AT}. The champion (HistGradientBoosting on a
{REF_ROWS:,}-row reference, {HOLDOUT_ROWS:,} of them its holdout) is never replaced: every triggered retrain
counts as blocked by the gate, the worst case for repeated triggers. Yearly seasonality: every feature's mean swings by
{SEASON_AMPLITUDE} SD over the year, the champion trained on two full years; weekly seasonality:
five features swing by {WEEKDAY_AMPLITUDE} SD over the days of each window. A 50,000-row window is
simulated by the {monitor.max_rows:,} rows the monitor samples from it (`monitor.max_rows`).
The table is the defaults' (`trigger.seasonal_reference: {trigger.seasonal_reference}`).

{decisions}

{passed}

"False triggers" are triggers in scenarios with nothing to detect, or before the change;
"detection delay" is the first trigger's window minus the change's (0: the first changed window);
the last column is the largest value of each signal on windows with nothing to detect, which the
defaults below must stay above. The gate's rates of promoting worse and rejecting better
challengers are measured by `make bench-gate` ("The promotion gate" above): the harness takes
every retrain as blocked instead of simulating it.

{seasonal}

The seasonal reference's rows: for `season_ago` a window of the same size drawn from the same week
{SEASON_WEEKS} weeks earlier (before the half-year, so before any scripted change), for
`previous_window` the rows of the window before; a column counts only when it drifted against the
champion's data and against those rows.

{estimates}

The estimate is the champion's expected ROC AUC from its own scores on the window, mapped to
probabilities by an isotonic fit on its holdout (`include/retraining/monitor/estimate.py`); "true AUC" is the
window's AUC on all its labels, which the monitor would only know once they matured.
"""


if __name__ == "__main__":
    main()
