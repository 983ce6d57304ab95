"""Benchmark: Evidently's DataDriftPreset on full windows vs `compute_data_drift`'s sampling.

    .venv/bin/python bench/drift_bench.py [--rows 1000000] [--out docs/benchmarks.md]

Builds a fixed-seed fixture (reference and current windows of `--rows` rows x 20 features, a
shift in three of them), runs each path in its own process so peak RSS is its own, checks both
flag the same columns and reach the same decision, and writes the section
"## Drift monitoring" of `--out`, leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root on sys.path)
from include.retraining.common import sample_rows  # noqa: E402
from include.retraining.config import MonitorConfig, TriggerConfig  # noqa: E402
from include.retraining.drift import (  # noqa: E402
    DEFAULT_MAX_ROWS,
    DriftEvidence,
    DriftSummary,
    History,
    column_tests,
    compute_data_drift,
    decide,
    drift_evidence,
    summarize_snapshot,
)

SECTION = "## Drift monitoring"
SEED = 42
NUMERIC = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_tickets",
    "logins_30d",
    "avg_session_minutes",
    "data_usage_gb",
    "late_payments",
    "discount_pct",
    "age",
    "satisfaction_score",
    "days_since_last_login",
]
CATEGORICAL = [
    "contract",
    "payment_method",
    "internet_service",
    "region",
    "plan_tier",
    "device",
    "paperless_billing",
    "acquisition_channel",
]
SHIFTED = ["monthly_charges", "support_tickets", "contract"]
CRITICAL = ("monthly_charges", "contract")
_CATEGORIES = {
    "contract": (["month-to-month", "one-year", "two-year"], [0.55, 0.25, 0.20]),
    "payment_method": (["card", "bank", "check", "wallet"], [0.4, 0.3, 0.2, 0.1]),
    "internet_service": (["fiber", "dsl", "none"], [0.45, 0.35, 0.20]),
    "region": ([f"r{i:02d}" for i in range(12)], [1 / 12] * 12),
    "plan_tier": (["basic", "plus", "pro", "max"], [0.4, 0.3, 0.2, 0.1]),
    "device": (["ios", "android", "web"], [0.4, 0.4, 0.2]),
    "paperless_billing": (["yes", "no"], [0.6, 0.4]),
    "acquisition_channel": (["search", "social", "referral", "partner", "tv"], [0.3, 0.25, 0.2, 0.15, 0.1]),
}
_SHIFTED_CONTRACT = [0.35, 0.30, 0.35]


def build_window(rows: int, *, shifted: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, rows)
    monthly = rng.normal(70.0 + (10.0 if shifted else 0.0), 20.0, rows)
    data = {
        "tenure_months": tenure,
        "monthly_charges": monthly,
        "total_charges": tenure * 70.0 + rng.normal(0, 200, rows),
        "support_tickets": rng.poisson(3.0 if shifted else 2.0, rows),
        "logins_30d": rng.poisson(12, rows),
        # A shift far below the 0.1 threshold: real windows are never identical.
        "avg_session_minutes": rng.lognormal(2.5 + (0.01 if shifted else 0.0), 0.6, rows),
        "data_usage_gb": rng.gamma(2.0, 10.0, rows),
        "late_payments": rng.integers(0, 4, rows),
        "discount_pct": rng.uniform(0, 30, rows),
        "age": rng.integers(18, 90, rows),
        "satisfaction_score": rng.integers(1, 6, rows),
        "days_since_last_login": rng.exponential(7.0, rows),
    }
    for column, (values, probs) in _CATEGORIES.items():
        if shifted and column == "contract":
            probs = _SHIFTED_CONTRACT
        codes = rng.choice(len(values), size=rows, p=probs)
        # Indexing an object array shares the few string objects instead of making one per row.
        data[column] = np.asarray(values, dtype=object)[codes]
    return pd.DataFrame(data)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> bool:
    # Building the fixture peaks higher than a sampled run; Linux lets a process reset its
    # high-water mark (which getrusage reports) so the peak measured is the run's own.
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _run_full(reference: pd.DataFrame, current: pd.DataFrame) -> DriftSummary:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    report = Report([DataDriftPreset(columns=NUMERIC + CATEGORICAL)], include_tests=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        snapshot = report.run(
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
            current_data=Dataset.from_pandas(current, data_definition=definition),
        )
    return summarize_snapshot(snapshot.dict(), NUMERIC, CATEGORICAL, n_reference=len(reference), n_current=len(current))


def _run_sampled(reference: pd.DataFrame, current: pd.DataFrame) -> DriftSummary:
    return compute_data_drift(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)


def worker(variant: str, rows: int) -> dict:
    reference = build_window(rows, shifted=False, seed=SEED)
    current = build_window(rows, shifted=True, seed=SEED + 1)
    started = time.perf_counter()
    import evidently.presets  # noqa: F401  (timed apart from the run)

    import_s = time.perf_counter() - started
    peak_reset = _reset_peak_rss()
    baseline_mb = _peak_rss_mb()
    run = _run_full if variant == "full" else _run_sampled
    started = time.perf_counter()
    summary = run(reference, current)
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    evidence = policy_evidence(reference, current, variant)
    decision = decide(
        evidence,
        prediction_psi=None,
        performance_drop=None,
        monitor=MonitorConfig(critical_features=list(CRITICAL)),
        trigger=TriggerConfig(),
        history=History(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return {
        "variant": variant,
        "seconds": seconds,
        "import_seconds": import_s,
        "baseline_rss_mb": baseline_mb,
        "peak_rss_mb": peak_mb,
        "peak_reset": peak_reset,
        "summary": summary.to_dict(),
        "evidently_dataset_drift": summary.drift_share >= 0.5,
        "decision": decision.to_dict(),
    }


def policy_evidence(reference: pd.DataFrame, current: pd.DataFrame, variant: str) -> DriftEvidence:
    """The trigger policy's evidence, the production decision's input: its tests on every row
    ("full") or on the rows the monitor samples ("sampled": max_rows, the report's seeds). No
    champion here, so every column carries the same importance."""
    if variant == "sampled":
        reference = sample_rows(reference, DEFAULT_MAX_ROWS, 0)
        current = sample_rows(current, DEFAULT_MAX_ROWS, 1)
    tests = column_tests(reference, current, NUMERIC, CATEGORICAL)
    columns = [*NUMERIC, *CATEGORICAL]
    importance = dict.fromkeys(columns, 1 / len(columns))
    return drift_evidence(
        tests, importance, TriggerConfig(), champion_version="1", n_reference=len(reference), n_current=len(current)
    )


def _spawn(variant: str, rows: int) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", variant, "--rows", str(rows)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _machine(load: tuple[float, float]) -> str:
    import evidently

    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {mem_kb / 1024**2:.1f} GB RAM, "
        f"Python {platform.python_version()}, evidently {evidently.__version__}, pandas {pd.__version__}, "
        f"numpy {np.__version__}; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end"
    )


def render(rows: int, full: dict, sampled: dict, load: tuple[float, float]) -> str:
    ratio = sampled["seconds"] / full["seconds"]
    full_cols, sampled_cols = full["summary"]["columns"], sampled["summary"]["columns"]
    same_set = sorted(full["summary"]["drifted_columns"]) == sorted(sampled["summary"]["drifted_columns"])
    same_decision = (
        full["decision"]["retrain"] == sampled["decision"]["retrain"]
        and full["evidently_dataset_drift"] == sampled["evidently_dataset_drift"]
    )
    max_gap = max(abs(full_cols[c]["score"] - sampled_cols[c]["score"]) for c in full_cols)
    verdict = "met" if ratio <= 0.1 and same_set and same_decision else "NOT met"
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `.venv/bin/python bench/drift_bench.py "
        f"--rows {rows}` on {_machine(load)}.",
        "",
        f"Fixture: reference and current windows of {rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} "
        f"features ({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical, seed {SEED}); the current "
        f"window shifts {', '.join(SHIFTED)} and nudges avg_session_minutes far below the threshold. "
        "Each path runs in its own process; time excludes building the fixture and "
        f"`import evidently` ({full['import_seconds']:.1f} s); peak RSS is "
        + (
            "the run's own (high-water mark reset after loading the fixture)."
            if full["peak_reset"] and sampled["peak_reset"]
            else "the process's, fixture building included (could not reset the high-water mark)."
        ),
        "",
        "| path | rows compared per window | wall time | peak RSS of the process (increase over the loaded fixture) |",
        "|---|---|---|---|",
        f"| DataDriftPreset on the full windows | {full['summary']['n_current']:,} | {full['seconds']:.1f} s "
        f"| {full['peak_rss_mb']:,.0f} MB (+{full['peak_rss_mb'] - full['baseline_rss_mb']:,.0f} MB) |",
        f"| `compute_data_drift`, default max_rows={DEFAULT_MAX_ROWS:,} | {sampled['summary']['n_current']:,} "
        f"| {sampled['seconds']:.1f} s | {sampled['peak_rss_mb']:,.0f} MB "
        f"(+{sampled['peak_rss_mb'] - sampled['baseline_rss_mb']:,.0f} MB) |",
        "",
        f"- Time ratio sampled/full: {ratio:.3f} ({1 / ratio:.0f}x faster).",
        f"- Drifted columns, full: {', '.join(full['summary']['drifted_columns']) or 'none'}; "
        f"sampled: {', '.join(sampled['summary']['drifted_columns']) or 'none'} "
        f"({'same set' if same_set else 'DIFFERENT sets'}).",
        f"- Decision (the trigger policy's tests on the same rows, every column equally important; critical "
        f"features {', '.join(CRITICAL)}): "
        f"retrain={full['decision']['retrain']} full, {sampled['decision']['retrain']} sampled; "
        f"Evidently's own dataset flag (share >= 0.5): {full['evidently_dataset_drift']} full, "
        f"{sampled['evidently_dataset_drift']} sampled ({'match' if same_decision else 'MISMATCH'}).",
        f"- Largest per-column score difference, sampled vs full: {max_gap:.4f} (thresholds are 0.1).",
        f"- Target (at most 1/10 of the full run's time, same decision, same drifted set): {verdict}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--worker", choices=["full", "sampled"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows)))
        return
    results, start_load = {}, os.getloadavg()[0]
    for variant in ("sampled", "full"):
        results[variant] = _spawn(variant, args.rows)
        print(f"{variant}: {results[variant]['seconds']:.1f} s, peak RSS {results[variant]['peak_rss_mb']:,.0f} MB")
    section = render(args.rows, results["full"], results["sampled"], (start_load, os.getloadavg()[0]))
    write_section(args.out, SECTION, section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
