"""Benchmark: the retrain's extract step against a plain ADBC read of the same window, side by side.

    .venv/bin/python bench/extract_bench.py [--rows 1000000] [--before DIR]   # or make bench-extract

Loads the demo churn rows into a new, uniquely named PostgreSQL database (as bench/retrain_bench.py
does: ADBC ingest, an index on the timestamp) so that the training window holds `--rows` rows.
Each measurement runs in a fresh process, as an Airflow worker runs a task, and reports the
call's own time (without start-up imports), the process's CPU time and its peak RSS (VmHWM):

- *ADBC read into pandas*: the window query through ADBC, `fetch_arrow_table().to_pandas()`,
  nothing else (the floor the target compares extract with);
- *ADBC batches drained*: the same query's record batches read and dropped (the stream's floor);
- *extract*: `retrain.extract`, window to snapshot, each run into an empty data folder so it
  really writes; with `--before DIR` also the extract of another checkout (e.g. an export of an
  older commit: `git archive <commit> | tar -x -C DIR`), run the same way.

Each is run `--repeat` times; the table shows the fastest run and the largest peak RSS. The
section "## Extraction at scale" of `--out` is rewritten (another size gets a section
of its own); the database is dropped.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root)
from bench.retrain_bench import WINDOW_END, _admin, _config, _context, _libpq, _pg_default, load_rows  # noqa: E402
from bench.task_process import bench_parser, peak_rss_mb, spawn_task  # noqa: E402
from bench.task_process import machine as describe_machine  # noqa: E402

# A child measuring another checkout imports `include` from there (the bench modules from here).
if os.environ.get("BENCH_CODE_ROOT"):
    sys.path.insert(0, os.environ["BENCH_CODE_ROOT"])

SECTION = "## Extraction at scale"


def section_for(rows: int) -> str:
    return SECTION if rows == 1_000_000 else f"## Extraction at scale, {rows:,} rows"


def _query() -> str:
    """The window query extract runs (bounds inline: ADBC streams it through COPY)."""
    import sqlalchemy as sa

    from include.retraining.common import training_window
    from include.retraining.warehouse import window_query

    config = _config()
    window = training_window(WINDOW_END, config.training.window_days, config.training.label_delay_days)
    columns = [config.source.id_column, config.source.timestamp_column, config.target, *config.features.columns]
    dialect = sa.dialects.postgresql.dialect()
    return window_query(config.source, columns, window.start, window.end, dialect, paramstyle="inline").sql


def _read(state: dict[str, Any], drain: bool) -> dict[str, Any]:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(state["libpq"]) as conn, conn.cursor() as cursor:
        cursor.execute(_query())
        if drain:
            return {"rows": sum(batch.num_rows for batch in cursor.fetch_record_batch())}
        return {"rows": len(cursor.fetch_arrow_table().to_pandas())}


def _rss_now_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def child(task: str, state_file: Path) -> None:
    """One measurement; every line imports the same libraries first, so `above_mb` (the peak over
    the RSS after imports) is what the call itself held."""
    import json

    import adbc_driver_postgresql.dbapi  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sqlalchemy  # noqa: F401

    from include.retraining.retrain import extract  # the face loads the step's module here, not in the call

    state = json.loads(state_file.read_text())
    # Built here on every line: it imports the MLflow and scikit-learn adapters (never connecting).
    ctx = _context(state)
    baseline = _rss_now_mb()
    started = time.perf_counter()
    result = extract(ctx).to_xcom() if task == "extract" else _read(state, drain=task == "drained")
    elapsed, peak = time.perf_counter() - started, peak_rss_mb()
    print(json.dumps({"result": result, "step_s": elapsed, "rss_mb": peak, "above_mb": peak - baseline}))


def measure(task: str, label: str, state: dict[str, Any], workdir: Path, env: dict[str, str], repeat: int) -> dict:
    """The fastest of `repeat` fresh-process runs, with the largest peak RSS among them."""
    runs = []
    for i in range(repeat):
        data = workdir / f"data-{label}-{i}"  # empty: extract writes its snapshot, never reuses one
        run_env = {**env, "RETRAINING_DATA_DIR": str(data)}
        runs.append(spawn_task(__file__, task, state, workdir / f"{label}-{i}.log", run_env))
        print(f"  {label}: {runs[-1]['step_s']:.2f} s, {runs[-1]['rss_mb']:.0f} MB", flush=True)
    best = min(runs, key=lambda run: run["step_s"])
    return {**best, "rss_mb": max(r["rss_mb"] for r in runs), "above_mb": max(r["above_mb"] for r in runs)}


def _commit() -> str:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return head.stdout.strip() or "unknown"


def render(rows: int, figures: dict[str, dict], machine: str, before: str | None) -> str:
    read = figures["ADBC read into pandas"]
    lines = [
        section_for(rows),
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `make bench-extract` (`bench/extract_bench.py "
        f"--rows {rows}`, this tree at {_commit()}) on {machine}; Python {platform.python_version()}, PostgreSQL "
        f"on loopback. {rows:,} rows in the churn training window (9 columns: id, timestamp, target, 6 features). "
        "Each line is a fresh process; *call* is the measured call without start-up imports (fastest run), "
        "*CPU* the process's user + system time, peak RSS the process's (largest run), *above imports* "
        "that peak less the RSS after the same imports on every line (what the call itself held).",
        "",
        "| what | call | vs. ADBC read | process CPU | peak RSS | above imports |",
        "|---|---|---|---|---|---|",
    ]
    for label, run in figures.items():
        lines.append(
            f"| {label} | {run['step_s']:.2f} s | {run['step_s'] / read['step_s']:.2f}x | {run['cpu_s']:.1f} s "
            f"| {run['rss_mb']:,.0f} MB | {run['above_mb']:,.0f} MB |"
        )
    extract = figures["extract (this tree)"]
    ratio = extract["step_s"] / read["step_s"]
    lines += [
        "",
        f"- Extract takes {ratio:.2f}x the plain ADBC read (target: <= 2x): {'met' if ratio <= 2 else 'NOT met'}.",
    ]
    if before:
        old = figures[f"extract ({before})"]
        lines.append(
            f"- Peak RSS of extract: {old['rss_mb']:,.0f} MB before ({before}), {extract['rss_mb']:,.0f} MB now "
            f"({old['above_mb']:,.0f} MB and {extract['above_mb']:,.0f} MB above the imports); "
            f"time {old['step_s']:.2f} s before, {extract['step_s']:.2f} s now."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = bench_parser(__doc__, "rows in the training window")
    parser.add_argument("--before", type=Path, help="a checkout (or export) whose extract to measure beside this one")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.state)
        return
    pg = args.pg or _pg_default()
    database = f"extract_bench_{os.getpid()}_{int(time.time())}"
    _admin(pg, f"CREATE DATABASE {database}")
    try:
        with tempfile.TemporaryDirectory(prefix="extract_bench_") as tmp:
            workdir = Path(tmp)
            load_rows(pg, database, args.rows)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            state = {
                "window_end": WINDOW_END.isoformat(),
                "warehouse_url": f"postgresql+psycopg2://{pg}/{database}",
                "libpq": _libpq(pg, database),
            }
            tasks = [("adbc", "ADBC read into pandas", env), ("drained", "ADBC batches drained", env)]
            tasks.append(("extract", "extract (this tree)", env))
            before = args.before.resolve().name if args.before else None
            if args.before:
                tasks.append(("extract", f"extract ({before})", {**env, "BENCH_CODE_ROOT": str(args.before.resolve())}))
            machine = describe_machine()
            figures = {label: measure(task, label, state, workdir, e, args.repeat) for task, label, e in tasks}
    finally:
        _admin(pg, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    section = render(args.rows, figures, machine, before)
    write_section(args.out, section_for(args.rows), section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
