"""REST serving (`python -m serving`): start-up, request latency by batch size with and without
the inference log, and how long an alias move takes to reach the server while requests run, with
the failures counted.

A scratch MLflow store (SQLite, under a temporary folder) holds two churn versions logged as the
retrain logs them (skops). Three servers run as processes of their own on loopback: the anchor,
`mlflow models serve --env-manager local` on the first version, and ours with the inference log
off and writing it to a scratch PostgreSQL database (SQLite when no server answers at
SERVE_BENCH_PG_URL); requests rotate over them, so a change in the machine's load weighs on all
alike. `make bench-serve` writes the section "REST serving" of docs/benchmarks.md.
About four minutes on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402

if TYPE_CHECKING:
    from include.retraining.common import Settings
    from include.retraining.config import ModelConfig
    from include.retraining.tracking import Registry

HEADING = "## REST serving (bench/serve_bench.py)"
START = datetime(2026, 1, 5, tzinfo=UTC)
PG_ADMIN_URL = os.environ.get("SERVE_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
SIZES = ((1, 2000), (100, 300), (1000, 100), (10000, 20))  # rows per request, requests per server


def log_version(settings: Settings, config: ModelConfig, seed: int) -> str:
    """Fit churn on a week of demo rows, log it as the retrain's train step does, register it."""
    from demo.churn_data import generate_snapshots
    from include.retraining import tracking
    from include.retraining.artifacts import content_hash, write_parquet_atomic
    from include.retraining.learning import SKOPS_TRUSTED_TYPES, fit, synthetic_example

    start = START + timedelta(days=7 * seed)
    frame = generate_snapshots(1200, start, start + timedelta(days=7), seed=seed)
    model, digest = fit(config, frame), content_hash(frame)
    path = write_parquet_atomic(frame, settings.artifact_root / f"{digest[:16]}.parquet")
    features = frame[config.features.columns].astype({c: "float64" for c in config.features.numeric})
    tracker = tracking.Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES)
    record = tracking.TrainingRunLog(
        run_name=f"serve bench {seed}",
        tags={tracking.SNAPSHOT_HASH_TAG: digest},
        params={"seed": seed},
        config_json=config.model_dump(mode="json"),
        frame=frame,
        snapshot_path=str(path),
        dataset_name=f"churn-{seed}",
        target=config.target,
    )
    logged = tracker.log_training_run(
        tracker.ensure_experiment("churn"),
        record,
        tracking.ModelLog(model, features.head(100), synthetic_example(features, config), SKOPS_TRUSTED_TYPES),
    )
    return tracking.Registry(tracker, "churn").register_version(logged.model_uri, logged.run_id, {})


def payload(rows: int, seed: int) -> str:
    from demo.churn_data import generate_snapshots

    start = START + timedelta(days=70)
    frame = generate_snapshots(rows, start, start + timedelta(days=7), seed=seed)
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False, date_format="iso"))})


def latencies(client: httpx.Client, urls: list[str], body: str, count: int) -> list[list[float]]:
    """`count` requests to each server, rotating over them, the order reversed every other round
    (ABBA: none always goes first, or right after another's answer): each server's latencies."""
    spent: list[list[float]] = [[] for _ in urls]
    for k in range(count):
        order = list(enumerate(urls))
        for i, url in order if k % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            answer = client.post(f"{url}/invocations", content=body, headers={"Content-Type": "application/json"})
            spent[i].append(time.perf_counter() - began)
            answer.raise_for_status()
    return spent


@contextmanager
def log_database() -> Iterator[tuple[str, str]]:
    """(URL, kind) of a scratch database for the inference log: PostgreSQL, dropped after, else SQLite."""
    import sqlalchemy as sa

    name = f"serve_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        yield f"sqlite:///{tempfile.mkdtemp(prefix='serve-bench-log-')}/pipeline.db", "SQLite"
        return
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False), "PostgreSQL"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def log_costs(config: ModelConfig, count: int = 2_000) -> tuple[float, float]:
    """Seconds (means, in this process) to queue a 1-row answer (the request thread's part) and to
    shape it into rows (the writer thread's part, before the write)."""
    import numpy as np
    import pandas as pd

    from include.retraining.inference import Answer, InferenceLog, answer_rows

    frame = json.loads(payload(1, seed=1))["dataframe_split"]
    rows = pd.DataFrame(frame["data"], columns=frame["columns"])
    log = InferenceLog(lambda rows: None, lambda answers: {}, capacity=count + 1, batch_rows=count + 1)
    answers = [
        Answer("churn", "1", "champion", f"r{i}", datetime.now(UTC).replace(tzinfo=None), rows, np.ones(1))
        for i in range(count)
    ]
    began = time.perf_counter()
    for answer in answers:
        log.submit(answer)
    queued = (time.perf_counter() - began) / count
    source = config.source
    began = time.process_time()
    for start in range(0, count, 10):  # ten at a time, as a flush finds them at ~50 requests/s
        answer_rows(answers[start : start + 10], config.features.columns, source.id_column, source.timestamp_column)
    return queued, (time.process_time() - began) / count


def log_counts(url: str) -> dict[str, float]:
    """The inference log's counters from the server's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    names = ("backlog_rows", "written_rows_total", "dropped_rows_total", "failed_writes_total")
    found = {}
    for line in text.splitlines():
        for name in names:
            if line.startswith(f"serving_inference_log_{name} "):
                found[name] = float(line.split()[-1])
    return found


def swaps(url: str, registry: Registry, versions: list[str], moves: int) -> tuple[list[float], int, int]:
    """Move the alias `moves` times while one client posts in a loop: delays, requests, failures."""
    body, stop, counts = payload(20, seed=8), threading.Event(), {"ok": 0, "failed": 0}

    def loop() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    answer = client.post(
                        f"{url}/invocations", content=body, headers={"Content-Type": "application/json"}
                    )
                    counts["ok" if answer.status_code == 200 else "failed"] += 1
                except httpx.HTTPError:
                    counts["failed"] += 1

    worker = threading.Thread(target=loop)
    worker.start()
    delays = []
    try:
        for move in range(moves):
            target = versions[(move + 1) % 2]
            began = time.perf_counter()
            registry.client.set_registered_model_alias("churn", "champion", target)
            while httpx.get(f"{url}/version", timeout=5).json()["version"] != target:
                time.sleep(0.05)
            delays.append(time.perf_counter() - began)
    finally:
        stop.set()
        worker.join()
    return delays, counts["ok"] + counts["failed"], counts["failed"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def started(command: list[str], env: dict[str, str], url: str, ready: str) -> tuple[subprocess.Popen, str, float]:
    """Start a server process and wait until `ready` answers 200: the process, its URL, the start-up."""
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if httpx.get(f"{url}{ready}", timeout=2).status_code == 200:
                return process, url, time.perf_counter() - began
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.perf_counter() - began > 300:
            process.kill()
            raise RuntimeError(f"{' '.join(command[:4])} did not become healthy")
        time.sleep(0.2)


def start_server(data: Path, poll: float, inference_log: str | None) -> tuple[subprocess.Popen, str, float]:
    """A server on a free port, its inference log off (None) or writing to that database URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "SERVING_"))}
    env |= {"RETRAINING_DATA_DIR": str(data), "PYTHONPATH": str(ROOT), "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}
    env |= {"SERVING_INFERENCE_LOG_DB": inference_log} if inference_log else {"SERVING_INFERENCE_LOG": "off"}
    command = [sys.executable, "-m", "serving", "--model", "churn", "--port", str(port), "--poll-seconds", str(poll)]
    return started(command, env, f"http://127.0.0.1:{port}", "/health")


def start_anchor(tracking_uri: str, version: str) -> tuple[subprocess.Popen, str, float]:
    """MLflow's own server on the same registered version, the anchor: `mlflow models serve` with
    `--env-manager local` (this virtualenv: no download, loopback only), one uvicorn worker."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # MLflow starts `uvicorn` by name: this virtualenv's, found on PATH.
    env |= {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/churn/{version}"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return started(command, env, f"http://127.0.0.1:{port}", "/ping")


def mlflow_version() -> str:
    from mlflow.version import VERSION

    return VERSION


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def measure(data: Path, args: argparse.Namespace, registry: Registry, versions: list[str], log_url: str) -> dict:
    """The three servers' latencies by size (MLflow's anchor, ours with the log off, ours with it
    on), the log's counters once written, the alias moves."""
    anchor, anchor_url, anchor_startup = start_anchor(registry.tracker.settings.tracking_uri, versions[0])
    try:
        measured = measure_ours(data, args, registry, versions, log_url, anchor_url)
    finally:
        stop(anchor)
    return {**measured, "anchor_startup": anchor_startup}


def measure_ours(
    data: Path, args: argparse.Namespace, registry: Registry, versions: list[str], log_url: str, anchor_url: str
) -> dict:
    quiet, quiet_url, _ = start_server(data, args.poll_seconds, None)
    try:
        logging, url, startup = start_server(data, args.poll_seconds, log_url)
        try:
            urls = [anchor_url, quiet_url, url]
            with httpx.Client(timeout=60) as client:
                rows = {size: latencies(client, urls, payload(size, seed=size), count) for size, count in SIZES}
            deadline = time.perf_counter() + 60
            while log_counts(url).get("backlog_rows", 0) and time.perf_counter() < deadline:
                time.sleep(0.2)
            counts = log_counts(url)
            delays, requests, failed = swaps(url, registry, versions, args.moves)
        finally:
            stop(logging)
    finally:
        stop(quiet)
    return {"startup": startup, "rows": rows, "counts": counts, "swaps": (delays, requests, failed)}


def report(args: argparse.Namespace, load_before: float, kind: str, measured: dict) -> list[str]:
    lines = [
        HEADING,
        "",
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, MLflow {mlflow_version()}, load average {load_before:.1f} at the start. One "
        "uvicorn worker per server; churn (HistGradientBoosting, 150 iterations); JSON `dataframe_split`; one "
        "client, keep-alive, its requests rotating over three servers on loopback: the anchor, `mlflow models "
        "serve --env-manager local` on the same registered version (MLflow's own scoring server: it answers "
        "class labels with `predict`, checks the input against the logged signature, writes no log), and ours "
        f"with the inference log off and writing it to {kind}.",
        "",
        f"- start-up to a healthy `/health` (imports, first poll, load of the champion): {measured['startup']:.1f} s; "
        f"`mlflow models serve` to `/ping`: {measured['anchor_startup']:.1f} s",
        "",
        "| rows per request | requests | p50, MLflow | p50, log off | p50, log on | p99, MLflow | p99, log off "
        "| p99, log on | rows/s at p50, log on |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, (anchor, off, on) in measured["rows"].items():
        cells = [statistics.median(anchor), statistics.median(off), statistics.median(on)]
        cells += [pct(anchor, 99), pct(off, 99), pct(on, 99)]
        ms = " | ".join(f"{value * 1000:.1f} ms" for value in cells)
        lines.append(f"| {size:,} | {len(on)} | {ms} | {size / cells[2]:,.0f} |")
    anchor, off, on = measured["rows"][1]
    ratio = pct(on, 99) / pct(anchor, 99)
    lines += [
        "",
        f"At 1 row per request our p99 is {pct(on, 99) * 1000:.1f} ms with the inference log on, "
        f"{pct(off, 99) * 1000:.1f} ms off, against {pct(anchor, 99) * 1000:.1f} ms for `mlflow models serve`: "
        f"{ratio:.2f}x ({'within' if ratio <= 2 else 'NOT within'} the 2x the serving contract allows); at p50 "
        f"{statistics.median(on) * 1000:.1f} ms against {statistics.median(anchor) * 1000:.1f} ms, "
        f"{statistics.median(on) / statistics.median(anchor):.2f}x. Ours also checks every value against its "
        "column's type, returns probabilities through the batch scorer and follows the alias; MLflow's binds one "
        "version at start. Compare the servers within a row: the rotation lays the machine's load on all three "
        "alike, while the absolute times grow with the load average.",
    ]
    counts = measured["counts"]
    delays, requests, failed = measured["swaps"]
    lines += [
        "",
        f"The inference log added {(pct(on, 99) - pct(off, 99)) * 1000:+.1f} ms to p99 at 1 row per request "
        f"({(statistics.median(on) - statistics.median(off)) * 1000:+.1f} ms at p50); it wrote "
        f"{counts.get('written_rows_total', 0):,.0f} rows, dropped {counts.get('dropped_rows_total', 0):,.0f}, "
        f"{counts.get('failed_writes_total', 0):,.0f} writes failed, backlog {counts.get('backlog_rows', 0):,.0f} "
        "after the last request. "
        f"Queueing an answer (`InferenceLog.submit`, the only work the log adds to a request's thread) costs "
        f"{measured['costs'][0] * 1e6:.1f} us; the writer thread then shapes it into rows with pandas, "
        f"{measured['costs'][1] * 1e3:.2f} ms of CPU per 1-row answer (ten shaped together), in the server's process, where it competes "
        "with the requests for the interpreter (a writer process of its own would take it off). The p99 of 100 requests or fewer is their maximum or next to it: one slow "
        "request (the machine is shared) moves it.",
        "",
        f"Alias moves with `SERVING_POLL_SECONDS={args.poll_seconds:g}`, {args.moves} moves while one client posted "
        f"20-row requests in a loop: {requests} requests, {failed} failed; from the move to `/version` naming the "
        f"new version: median {statistics.median(delays):.1f} s, max {max(delays):.1f} s (the contract: 60 s). "
        "The delay is up to one poll interval plus the load"
        + (": every move here came just after a poll, the worst case." if min(delays) >= args.poll_seconds else "."),
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll-seconds", type=float, default=15.0)
    parser.add_argument("--moves", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config
    from include.retraining.learning import SKOPS_TRUSTED_TYPES
    from include.retraining.tracking import Registry, Tracker

    data = Path(tempfile.mkdtemp(prefix="serve-bench-")) / "data"
    settings = load_settings({"RETRAINING_DATA_DIR": str(data)})
    config = load_model_config(ROOT / "include" / "models" / "churn.yaml")
    versions = [log_version(settings, config, seed) for seed in (1, 2)]
    registry = Registry(Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES), "churn")
    registry.promote(versions[0], {})
    load_before = os.getloadavg()[0]
    with log_database() as (log_url, kind):
        measured = measure(data, args, registry, versions, log_url)
    measured["costs"] = log_costs(config)
    section = "\n".join(report(args, load_before, kind, measured)) + "\n"
    write_section(args.out, HEADING, section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
