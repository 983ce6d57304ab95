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


# How a task's process starts, as the results page says it.
PROCESS_MODEL = {
    False: "forked from a worker that imported the libraries once (include/orchestration/worker_preload.py, "
    "as the stack's Celery and LocalExecutor workers do)",
    True: "a fresh Python that imports every library itself (`--cold`: a worker without the preload)",
}


class ForkingWorker:
    """A process that imports the worker preload once and forks one child per task, as a Celery
    pool process (or a LocalExecutor worker) does with `include/orchestration/worker_preload.py`
    configured. A task's figures start at its fork: what a task costs in production."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.task_process", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the forking worker did not start; run `python -m bench.task_process --serve` to see why")

    def run(self, script: str, task: str, state_file: Path, log: Path) -> tuple[int, float, float, str]:
        """Exit code, wall and CPU seconds, and stdout of `script --child task` forked from the worker."""
        request = {"script": script, "task": task, "state": str(state_file), "log": str(log)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        done = json.loads(self.proc.stdout.readline())
        return done["exit"], done["wall_s"], done["cpu_s"], Path(done["out"]).read_text()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def serve() -> None:
    """The forking worker's loop (`python -m bench.task_process --serve`): preload, then one fork
    per request line, answering with the child's exit code, wall and CPU time."""
    import runpy

    import include.orchestration.worker_preload  # noqa: F401 - the point of this process

    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        out = Path(request["log"]).with_suffix(".out")
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the task: its stdout to a file, stderr to its log, argv as if started fresh
            code = 1
            try:
                os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
                os.dup2(os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
                sys.argv = [request["script"], "--child", request["task"], "--state", request["state"]]
                runpy.run_path(request["script"], run_name="__main__")
                code = 0
            except BaseException:  # noqa: BLE001 - the child reports every failure by its exit code
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status, usage = os.wait4(pid, 0)
        answer = {
            "exit": os.waitstatus_to_exitcode(status),
            "wall_s": time.perf_counter() - started,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "out": str(out),
        }
        print(json.dumps(answer), flush=True)


def spawn_task(
    script: str, task: str, state: dict[str, Any], log: Path, env: dict[str, str], worker: ForkingWorker | None = None
) -> dict[str, Any]:
    """Run `script --child task` on the state, forked from the preloaded `worker` or, without one,
    in a fresh Python process that imports everything itself; its wall and CPU time and the report
    it prints last (JSON). A failed task stops the benchmark with the end of its log."""
    state_file = log.parent / "state.json"
    state_file.write_text(json.dumps(state, default=str))
    if worker is not None:
        code, wall, cpu, out = worker.run(script, task, state_file, log)
    else:
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
        wall, code, cpu = (
            time.perf_counter() - started,
            os.waitstatus_to_exitcode(status),
            usage.ru_utime + usage.ru_stime,
        )
    if code != 0:
        raise SystemExit(f"task {task} failed; its log ends:\n{log.read_text()[-3000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "cpu_s": cpu, **report}


def bench_parser(doc: str, rows_help: str) -> argparse.ArgumentParser:
    """The options every PostgreSQL bench takes, and the hidden ones of its task processes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help=rows_help)
    parser.add_argument("--pg", help="user@host:port of a PostgreSQL server (default: RETRAINING_TEST_PG_URL's)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="run each task in a fresh Python process that imports its libraries itself "
        "(a worker without include/orchestration/worker_preload.py); default: forked from a preloaded worker",
    )
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


def start_worker(env: dict[str, str], cold: bool) -> ForkingWorker | None:
    """The preloaded forking worker the tasks run from, or None with `--cold`."""
    return None if cold else ForkingWorker(env)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
