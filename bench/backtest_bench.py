"""Benchmark: a year of weekly windows replayed by `python -m retraining backtest`.

    .venv/bin/python bench/backtest_bench.py [--weeks 52] [--rows 5000] [--out docs/benchmarks.md]   # or make bench-backtest

Writes a seeded churn history (demo/churn_data.py: `--rows` snapshots a week, the demo's pricing
change half-way) into a fresh embedded SQLite warehouse under a scratch data folder, with six
weeks before the first window for the first model to learn from. Then runs the backtest of the
shipped churn model over `--weeks` weekly windows in its own process, as a user would (the
monitor at each window's end: `--monitor-cron`, default weekly), and times it. The section
"## Backtest" of `--out` is rewritten; the scratch folder is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root)
from bench.task_process import machine  # noqa: E402

SECTION = "## Backtest"
START = datetime(2025, 1, 6, 3, tzinfo=UTC)  # a Monday 03:00, the churn model's weekly fire
HISTORY_WEEKS = 6  # training.window_days 42: the first window's model learns from these


def _load(url: str, weeks: int, rows: int) -> None:
    from demo.churn_data import PRICING_CHANGE, STABLE, generate_snapshots, load_window

    change = HISTORY_WEEKS + weeks // 2
    for week in range(HISTORY_WEEKS + weeks):
        start, end = START + timedelta(weeks=week), START + timedelta(weeks=week + 1)
        world = PRICING_CHANGE if week >= change else STABLE
        load_window(url, "customer_snapshots", generate_snapshots(rows, start, end, seed=11, world=world), start, end)


def _backtest(data: Path, weeks: int, monitor_cron: str) -> tuple[float, float, dict, str]:
    first = START + timedelta(weeks=HISTORY_WEEKS)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RETRAINING_DATA_DIR": str(data),
        "PYTHONPYCACHEPREFIX": str(data.parent / "pycache"),
    }
    env.pop("AIRFLOW_CONN_WAREHOUSE", None)
    command = [
        sys.executable, "-m", "retraining", "backtest", "churn",
        "--start", (first - timedelta(days=1)).isoformat(),
        "--end", (first + timedelta(weeks=weeks - 1)).isoformat(),
        "--monitor-cron", monitor_cron, "--out", str(data / "backtest"),
    ]  # fmt: skip
    started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"backtest failed:\n{done.stderr[-4000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, json.loads(done.stdout), done.stderr


def _section(args: argparse.Namespace, loaded: float, wall: float, cpu: float, summary: dict) -> str:
    policies = summary["policies"]
    rows = "\n".join(
        f"| {name} | {p['mean_metric']:.4f} | {p['retrains']} | {p['promotions']} | {p['blocked']} | "
        f"{p['false_alarms']} | {p['task_seconds']:.0f} |"
        for name, p in policies.items()
    )
    return f"""{SECTION}

Measured {datetime.now(UTC):%Y-%m-%d} with `bench/backtest_bench.py --weeks {args.weeks} --rows {args.rows}` on
{machine()}; Python {sys.version.split()[0]}.

Fixture: the churn history of demo/churn_data.py, {args.rows:,} rows a week, the pricing change after
{args.weeks // 2} windows, in the embedded SQLite warehouse (written in {loaded:.0f} s). The shipped churn
model replayed over {summary["windows"]} weekly windows, the monitor at each window's end
(`--monitor-cron "{args.monitor_cron}"`), in one process started cold (imports and a new MLflow store included).

| | figure |
|---|---|
| wall time, whole backtest | {wall:.0f} s ({wall / 60:.1f} min; target <= 10 min) |
| CPU time of the process | {cpu:.0f} s |
| per window | {wall / summary["windows"]:.1f} s |
| drift triggers, retrains, promotions, blocked | {summary["drift_triggers"]}, {summary["retrains"]}, {summary["promotions"]}, {summary["blocked"]} |

| policy | mean served {summary["metric"]} | retrains | promotions | blocked | false alarms | task seconds |
|---|---|---|---|---|---|---|
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--monitor-cron", default="0 3 * * 1")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="backtest-bench-"))
    try:
        data = workdir / "data"
        data.mkdir()
        started = time.monotonic()
        _load(f"sqlite:///{data / 'warehouse.db'}", args.weeks, args.rows)
        loaded = time.monotonic() - started
        print(f"history written in {loaded:.0f} s; backtest of {args.weeks} windows...", flush=True)
        wall, cpu, summary, _ = _backtest(data, args.weeks, args.monitor_cron)
        section = _section(args, loaded, wall, cpu, summary)
        print(section)
        write_section(args.out, SECTION, section, "Benchmarks")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
