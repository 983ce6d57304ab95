"""Benchmark: what loading `dags/` costs with 50 model files, beyond Airflow's own DagBag import.

    .venv/bin/python bench/parse_bench.py [--models 50] [--repeats 5]   # or make bench-parse

Writes `--models` copies of include/models/churn.yaml (names churn_00, churn_01, ...) into a
temporary models folder, then, in a fresh interpreter per repeat (as the dag-processor starts
one), times `from airflow.dag_processing.dagbag import DagBag` (Airflow's own cost) and then
`DagBag(dag_folder="dags")` (ours: both DAG files, every model file parsed and validated, every
DAG built and bagged). The same with the one shipped model file gives the fixed part. The median
of the repeats goes into the section "## DAG parse time with many models" of `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root)

SECTION = "## DAG parse time with many models"
CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from airflow.dag_processing.dagbag import DagBag
t1, c1 = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"airflow": t1 - t0, "airflow_cpu": c1 - c0, "dags": t2 - t1, "dags_cpu": c2 - c1,
                  "dag_count": len(bag.dag_ids), "errors": len(bag.import_errors)}))
"""


def write_models(folder: Path, count: int) -> None:
    text = (ROOT / "include" / "models" / "churn.yaml").read_text(encoding="utf-8")
    for index in range(count):
        name = f"churn_{index:02d}"
        (folder / f"{name}.yaml").write_text(text.replace("name: churn ", f"name: {name} ", 1), encoding="utf-8")


def measure(models_dir: Path, repeats: int, airflow_home: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RETRAINING_MODELS_DIR": str(models_dir),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT / "dags")], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if any(r["errors"] for r in runs):
        raise SystemExit(f"import errors while bagging {models_dir}: {runs[-1]}")
    figures = {key: statistics.median(r[key] for r in runs) for key in ("airflow", "airflow_cpu", "dags", "dags_cpu")}
    return {**figures, "dags_max": max(r["dags"] for r in runs), "dag_count": runs[-1]["dag_count"]}


def render(models: int, repeats: int, one: dict, many: dict, load: tuple[float, float]) -> str:
    per_model = (many["dags_cpu"] - one["dags_cpu"]) / (models - 1)
    verdict = "met" if many["dags_cpu"] <= 1.0 else "not met"
    return "\n".join(
        [
            SECTION,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `make bench-parse` (`bench/parse_bench.py "
            f"--models {models} --repeats {repeats}`) on {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end.",
            "",
            "Median of the repeats, each in a fresh interpreter: *Airflow* is `from airflow.dag_processing.dagbag "
            "import DagBag`, *dags/* is `DagBag(dag_folder='dags')` after it (every DAG file, every model file "
            "parsed and validated, every DAG built). CPU is the process's own time, what the wall time is on an "
            "idle core; on a loaded machine the wall time mostly measures waiting for a core.",
            "",
            "| model files | DAGs | Airflow's DagBag import: wall / CPU | loading dags/: wall / CPU | slowest wall |",
            "|---|---|---|---|---|",
            f"| 1 | {one['dag_count']} | {one['airflow']:.2f} s / {one['airflow_cpu']:.2f} s | "
            f"{one['dags']:.2f} s / {one['dags_cpu']:.2f} s | {one['dags_max']:.2f} s |",
            f"| {models} | {many['dag_count']} | {many['airflow']:.2f} s / {many['airflow_cpu']:.2f} s | "
            f"{many['dags']:.2f} s / {many['dags_cpu']:.2f} s | {many['dags_max']:.2f} s |",
            "",
            f"- Each model file beyond the first adds {per_model * 1000:.1f} ms of CPU.",
            f"- Loading dags/ with {models} model files costs {many['dags_cpu']:.2f} s of CPU beyond Airflow's own "
            f"DagBag import (target: <= 1 s): {verdict}.",
            "- Each DAG file parses every model file (the dag-processor imports each file in a process of its own, "
            "so nothing is shared between them); model files are read with libyaml (PyYAML's C parser) where it "
            "is installed.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    start_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as tmp:
        work = Path(tmp)
        (work / "one").mkdir()
        (work / "many").mkdir()
        write_models(work / "one", 1)
        write_models(work / "many", args.models)
        one = measure(work / "one", args.repeats, work / "airflow")
        many = measure(work / "many", args.repeats, work / "airflow")
    section = render(args.models, args.repeats, one, many, (start_load, os.getloadavg()[0]))
    write_section(args.out, SECTION, section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
