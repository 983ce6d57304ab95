"""Benchmark: one monitor_churn run at scale, one process per task as in production.

    .venv/bin/python bench/monitor_bench.py [--rows 10000000] [--pg postgres@127.0.0.1:5432]   # or make bench-monitor

Loads demo churn rows into a new, uniquely named PostgreSQL database by ADBC bulk ingest (a day
at a time, an index on the timestamp): `--rows` rows in the monitoring window (the 7 days before
the run's window end) and as many in its matured-label window (the 7 days before that), plus
`--history` rows in the weeks before, on which a real retrain (retrain_bench's tasks, each in its
own process) makes the champion in a SQLite MLflow store, with its reference profile. Then the
monitor's tasks (reference, current, seasonal_reference, data_drift, performance, decide, report) each run in a fresh
Python process with the previous tasks' XCom values, as an Airflow worker would; the parent
records each one's wall and CPU time (`os.wait4`), the process its peak RSS (VmHWM) and the
step's own time. Nothing was served in these windows, so the monitor scores them itself
("rescored"). The section "## Monitor at scale, N rows per window" of `--out` is
rewritten; the database is dropped.

Not included: Airflow's own per-task cost (task runner start, DAG file parse) and the trigger
and auto_rollback tasks (they need the Airflow context; trigger only runs after a retrain decision).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import retrain_bench  # noqa: E402  (needs the repo root)
from bench import task_process as tasks  # noqa: E402
from bench.docs_section import write_section  # noqa: E402
from bench.retrain_bench import _admin, _libpq, _pg_default  # noqa: E402
from bench.task_process import machine as describe_machine  # noqa: E402

TASKS = ("reference", "current", "seasonal_reference", "data_drift", "performance", "decide", "report")
WINDOW_END = datetime(2026, 6, 1, 2, tzinfo=UTC)  # a fire of churn.yaml's monitor schedule "0 2 * * *"
# The champion's retrain: its training window (end - 42 d, end - 7 d] lies in the history rows.
CHAMPION_END = WINDOW_END - timedelta(days=14)
HISTORY_START = WINDOW_END - timedelta(days=56)
SEED = 14


def section_for(rows: int) -> str:
    return f"## Monitor at scale, {rows:,} rows per window"


def _ingest(cursor: Any, rows: int, start: datetime, end: datetime, first: bool) -> None:
    """Rows over (start, end], generated and ingested one day at a time (bounded memory)."""
    import pyarrow as pa

    from demo.churn_data import TABLE, generate_snapshots

    days = max(1, round((end - start) / timedelta(days=1)))
    step = (end - start) / days
    for day in range(days):
        low = start + day * step
        frame = generate_snapshots(rows // days, low, low + step, seed=SEED)
        mode = "create" if first and day == 0 else "append"
        cursor.adbc_ingest(TABLE, pa.Table.from_pandas(frame, preserve_index=False), mode=mode)


def load_rows(pg: str, database: str, rows: int, history: int) -> None:
    """`history` rows before the matured window, `rows` in each of the matured and current windows."""
    import adbc_driver_postgresql.dbapi as adbc

    from demo.churn_data import TABLE

    matured_start = WINDOW_END - timedelta(days=14)
    with adbc.connect(_libpq(pg, database)) as conn, conn.cursor() as cursor:
        _ingest(cursor, history, HISTORY_START, matured_start, first=True)
        _ingest(cursor, 2 * rows, matured_start, WINDOW_END, first=False)
        # The index the README asks of a source table: the window query filters on the timestamp.
        cursor.execute(f"CREATE INDEX ON {TABLE} (snapshot_at)")
        cursor.execute(f"ANALYZE {TABLE}")
        conn.commit()


def _step(task: str, state: dict[str, Any]) -> dict[str, Any]:
    """One monitor task's step on the earlier tasks' XCom values, its result as the XCom it returns."""
    from include.retraining import monitor
    from include.retraining.common import load_settings
    from include.retraining.drift import DriftDecision
    from include.retraining.monitor import (
        CurrentWindow,
        DriftResult,
        MonitoringResults,
        Performance,
        Reference,
        SeasonalWindow,
    )
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Warehouse

    run = RunInfo(dag_id="monitor_churn", run_id=f"bench__{WINDOW_END:%Y%m%d}", window_end=WINDOW_END)
    ctx = StepContext.create(retrain_bench._config(), load_settings(), run, Warehouse(state["warehouse_url"]))
    x = state["xcom"]
    if task == "reference":
        return monitor.reference(ctx).to_xcom()
    ref = Reference.from_xcom(x["reference"])
    if task == "current":
        return monitor.current(ctx, ref).to_xcom()
    cur = CurrentWindow.from_xcom(x["current"])
    if task == "seasonal_reference":
        return monitor.seasonal_reference(ctx, cur).to_xcom()
    if task == "data_drift":
        return monitor.data_drift(ctx, ref, cur, SeasonalWindow.from_xcom(x["seasonal_reference"])).to_xcom()
    if task == "performance":
        return monitor.performance(ctx, ref, cur).to_xcom()
    drift, perf = DriftResult.from_xcom(x["data_drift"]), Performance.from_xcom(x["performance"])
    if task == "decide":
        return monitor.decide(ctx, drift, perf, retrain_running=False).to_dict()
    results = MonitoringResults(ref, cur, drift, perf, DriftDecision.from_dict(x["decide"]))
    return monitor.report(ctx, results).to_xcom()


def child(task: str, state_file: Path) -> None:
    """One task in this process: its result and its own time (without imports) as JSON."""
    state = json.loads(state_file.read_text())
    started = time.perf_counter()
    result = _step(task, state)
    print(json.dumps({"result": result, "step_s": time.perf_counter() - started, "rss_mb": tasks.peak_rss_mb()}))


def run_monitor(
    base: dict[str, Any], workdir: Path, env: dict[str, str], worker: tasks.ForkingWorker | None
) -> dict[str, dict]:
    state: dict[str, Any] = {**base, "xcom": {}}
    figures = {}
    for task in TASKS:
        figures[task] = tasks.spawn_task(__file__, task, state, workdir / f"monitor-{task}.log", env, worker)
        state["xcom"][task] = figures[task]["result"]
        done = figures[task]
        print(f"  {task}: {done['wall_s']:.1f} s, cpu {done['cpu_s']:.1f} s, {done['rss_mb']:.0f} MB", flush=True)
    return figures


def render(rows: int, history: int, load_s: float, figures: dict[str, dict], machine: str, cold: bool) -> str:
    cur, drift, perf = figures["current"]["result"], figures["data_drift"]["result"], figures["performance"]["result"]
    total = sum(figures[t]["wall_s"] for t in TASKS)
    lines = [
        section_for(rows),
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `make bench-monitor ROWS={rows}` "
        f"(`bench/monitor_bench.py --rows {rows}{' --cold' if cold else ''}`) on {machine}; "
        f"Python {platform.python_version()}, "
        "PostgreSQL on loopback, MLflow on SQLite, bytecode cached as in the image.",
        "",
        f"{cur['rows_current']:,} rows in the monitoring window and {cur['rows_matured']:,} in its matured-label "
        f"window ({history:,} history rows before them; all loaded by ADBC ingest in {load_s:.0f} s, index on the "
        f"timestamp). The monitor read {cur.get('rows_current_read', 0):,} and {cur.get('rows_matured_read', 0):,} "
        f"of them (sampled: {cur.get('sampled', False)}; bounds monitor.max_rows and monitor.max_matured_rows); "
        f"the counts come from SQL. Each task runs in its own process, {tasks.PROCESS_MODEL[cold]}; "
        "*process* is its wall time in that process, *step* the step's call, *CPU* the process's user + system time.",
        "",
        "| task | process | step | CPU | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for task in TASKS:
        f = figures[task]
        lines.append(
            f"| {task} | {f['wall_s']:.1f} s | {f['step_s']:.1f} s | {f['cpu_s']:.1f} s | {f['rss_mb']:,.0f} MB |"
        )
    peak = max(figures[t]["rss_mb"] for t in TASKS)
    lines += [
        f"| **sum** | **{total:.1f} s** | {sum(figures[t]['step_s'] for t in TASKS):.1f} s "
        f"| {sum(figures[t]['cpu_s'] for t in TASKS):.1f} s | max {peak:,.0f} MB |",
        "",
        f"- Sum of the tasks: {total:.1f} s (target at 10M rows per window: <= 60 s): "
        f"{'met' if total <= 60 else 'NOT met'}{'' if rows >= 10_000_000 else ' (at this size)'}.",
        f"- Drift: {len(drift['drifted_columns'])} of {len(drift['columns'])} features drifted, prediction PSI "
        f"{drift['prediction_psi']:.3f} ({drift.get('prediction_source')}); performance "
        f"{perf['metric']} {perf['current_value']} on {perf['rows']:,} matured rows ({perf.get('source')}); "
        f"decision: {figures['report']['result']['decision']}.",
        "- Not included: Airflow's own per-task cost, the trigger and auto_rollback tasks, served predictions.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = tasks.bench_parser(__doc__, "rows in each of the two monitored windows")
    parser.set_defaults(rows=10_000_000)
    parser.add_argument("--history", type=int, default=120_000, help="rows before them (the champion's training)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.state)
        return
    args.pg = args.pg or _pg_default()
    database = f"monitor_bench_{os.getpid()}_{int(time.time())}"
    _admin(args.pg, f"CREATE DATABASE {database}")
    try:
        with tempfile.TemporaryDirectory(prefix="monitor_bench_") as tmp:
            workdir = Path(tmp)
            started = time.perf_counter()
            load_rows(args.pg, database, args.rows, args.history)
            load_s = time.perf_counter() - started
            print(f"loaded in {load_s:.0f} s", flush=True)
            env = tasks.task_env(ROOT, workdir)
            base = {
                "warehouse_url": f"postgresql+psycopg2://{args.pg}/{database}",
                "libpq": _libpq(args.pg, database),
            }
            print(f"champion: a retrain of the window ending {CHAMPION_END:%Y-%m-%d}", flush=True)
            worker = tasks.start_worker(env, args.cold)
            retrain_bench.run_window(CHAMPION_END, base, workdir, env, worker)
            machine = describe_machine()
            print(f"monitor: window ending {WINDOW_END:%Y-%m-%d %H:%M}", flush=True)
            figures = run_monitor(base, workdir, env, worker)
            if worker is not None:
                worker.close()
    finally:
        _admin(args.pg, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "load_s": load_s, "figures": figures}, default=str))
    section = render(args.rows, args.history, load_s, figures, machine, args.cold)
    write_section(args.out, section_for(args.rows), section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
