"""What the one-process-per-task benchmarks share: running a task in a fresh process as a
worker would, and the figures every results page states (peak RSS, the machine)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's own high-water RSS. Not getrusage's ru_maxrss: Linux carries it over fork and
    exec, so every child would report at least the parent's size at the fork."""
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


def machine() -> str:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    gb = int(mem.split()[1]) / 1024**2
    load = os.getloadavg()[0]
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {gb:.1f} GB RAM, load average {load:.1f}"
    )


def spawn_task(script: str, task: str, state: dict[str, Any], log: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `script --child task` in a fresh process on the state; its wall and CPU time and the
    report it prints last (JSON). A failed task stops the benchmark with the end of its log."""
    state_file = log.parent / "state.json"
    state_file.write_text(json.dumps(state, default=str))
    started = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, script, "--child", task, "--state", str(state_file)],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
        )
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"task {task} failed; its log ends:\n{log.read_text()[-3000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, **report}


def bench_parser(doc: str, rows_help: str) -> argparse.ArgumentParser:
    """The options every PostgreSQL bench takes, and the hidden ones of its task processes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help=rows_help)
    parser.add_argument("--pg", help="user@host:port of a PostgreSQL server (default: RETRAINING_TEST_PG_URL's)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    return parser


def task_env(root: Path, workdir: Path) -> dict[str, str]:
    """The environment of a bench's task processes: the repo on the path, data and a SQLite MLflow
    store under `workdir`, one fit thread, and bytecode cached as in the image (pip compiles it at
    install): without it every task process compiles mlflow, sklearn and GX again, seconds per task."""
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "RETRAINING_DATA_DIR": str(workdir / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "RETRAINING_FIT_THREADS": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPYCACHEPREFIX": str(workdir / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
