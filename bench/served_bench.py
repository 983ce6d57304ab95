"""Benchmark: the monitor's reads of served predictions at scale, on PostgreSQL.

    .venv/bin/python -m tools.services -- .venv/bin/python bench/served_bench.py [--rows 1000000]   # or make bench-served

Loads `--rows` champion predictions and as many shadow-challenger predictions (the predictions
table's contract, with score_<model>'s indexes) over one week, and a label table holding labels
for 90% of them, into a new, uniquely named database (ADBC bulk ingest). Then times, in this
process, what a monitor run adds: the champion's served scores of a window (`read_served`), every
alias's served rows of a window joined with the labels (`read_served_with_labels`), and the
per-version and shadow figures computed from them (the monitor's `performance` step, which runs
`served_performance`). The section "## Served-prediction monitoring" of `--out` is
rewritten; the database is dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root)

SECTION = "## Served-prediction monitoring"
START = datetime(2026, 6, 1, tzinfo=UTC)
END = START + timedelta(days=7)


def _load(url: str, rows: int) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import numpy as np
    import pyarrow as pa
    from sqlalchemy.engine import make_url

    rng = np.random.default_rng(13)
    ids = pa.array([f"C{i:09d}" for i in range(rows)])
    times = np.datetime64(START.replace(tzinfo=None), "us") + (np.sort(rng.uniform(1, 7 * 86400, rows)) * 1e6).astype(
        "timedelta64[us]"
    )
    label = rng.integers(0, 2, rows)
    score = np.clip(0.4 * label + rng.uniform(0, 0.6, rows), 0, 1)

    def predictions(version: str, alias: str, scores: np.ndarray) -> pa.Table:
        text = lambda value: pa.array([value] * rows)  # noqa: E731
        bound = lambda moment: pa.array([moment.replace(tzinfo=None)] * rows, pa.timestamp("us"))  # noqa: E731
        columns = {"model": text("churn"), "model_version": text(version), "alias": text(alias), "id": ids}
        columns |= {"event_time": pa.array(times, pa.timestamp("us")), "score": pa.array(scores)}
        columns |= {"interval_start": bound(START), "interval_end": bound(END), "scored_at": bound(END)}
        return pa.table({**columns, "run_id": text("bench")})

    labelled = rows * 9 // 10
    labels = pa.table({"customer_id": ids[:labelled], "churned": pa.array(label[:labelled])})
    with adbc.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        with conn.cursor() as cursor:
            cursor.adbc_ingest("churn_predictions", predictions("1", "champion", score), mode="create")
            cursor.adbc_ingest(
                "churn_predictions", predictions("2", "challenger", rng.uniform(0, 1, rows)), mode="append"
            )
            cursor.adbc_ingest("churn_labels", labels, mode="create")
            cursor.execute("CREATE INDEX ON churn_predictions (model, interval_end, interval_start)")
            cursor.execute("CREATE INDEX ON churn_predictions (model, id)")
            cursor.execute("ANALYZE")
        conn.commit()


def _timed(action):
    """The result, and (wall, this process's CPU) seconds: on a shared machine the CPU time is the
    steadier figure (it leaves out the PostgreSQL server's share of a read)."""
    began, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, (time.perf_counter() - began, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from include.retraining import monitor
    from include.retraining.artifacts import write_parquet_atomic
    from include.retraining.common import Window, load_settings
    from include.retraining.config import load_model_config
    from include.retraining.learning import metric_value
    from include.retraining.predictions import read_served, read_served_with_labels
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Database

    assert metric_value  # scikit-learn imported before the clock starts (a monitor task has it loaded)
    assert monitor.performance  # and the monitor's steps (the face loads a module on first use)
    admin = os.environ.get("RETRAINING_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    name = f"served_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        _, load_s = _timed(lambda: _load(url, args.rows))
        base = load_model_config(ROOT / "include" / "models" / "churn.yaml")
        config = base.model_copy(update={"labels": base.labels.model_copy(update={"table": "churn_labels"})})
        db = Database(url)
        served, served_s = _timed(lambda: read_served(db, config, START, END, alias="champion"))
        joined, joined_s = _timed(lambda: read_served_with_labels(db, config, START, END))
        path = write_parquet_atomic(joined, Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}.parquet")
        # The monitor's performance step on what was served in the matured window (it never scores or
        # touches MLflow then): a champion reference and the window's served rows as current read them.
        ref = monitor.Reference(version="1", run_id="", snapshot="", holdout_metric=0.8, features=[])
        window, rows = Window(START, END), len(served)
        cur = monitor.CurrentWindow(
            window=window,
            matured_window=window,
            current="",
            matured="",
            rows_current=rows,
            rows_matured=rows,
            rows_current_read=rows,
            rows_matured_read=rows,
            served_matured=str(path),
        )
        run = RunInfo(dag_id="monitor_churn", run_id="served_bench", window_end=END)
        ctx = StepContext.create(config, load_settings(), run)
        perf, perf_s = _timed(lambda: monitor.performance(ctx, ref, cur).to_xcom())
        path.unlink()
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (shadow,) = perf["shadow"]
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `bench/served_bench.py --rows {args.rows}` on {os.cpu_count()} "
        f"CPUs, Python {platform.python_version()}; load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        f"Fixture: {args.rows:,} champion and {args.rows:,} shadow-challenger predictions over one week, a label "
        f"table with labels for 90% of them (loaded in {load_s[0]:.1f} s, ADBC bulk ingest).",
        "",
        "| step | rows | wall time | CPU time of this process |",
        "|---|---|---|---|",
        f"| `read_served`, the champion's scores of the window | {len(served):,} | {served_s[0]:.2f} s | {served_s[1]:.2f} s |",
        f"| `read_served_with_labels`, every alias joined with the labels | {len(joined):,} | {joined_s[0]:.2f} s | {joined_s[1]:.2f} s |",
        f"| the monitor's `performance` step (`served_performance`), per version and shadow figures | {len(joined):,} | {perf_s[0]:.2f} s | {perf_s[1]:.2f} s |",
        "",
        f"- Coverage {perf['coverage']:.2f}; champion roc_auc {perf['current_value']:.3f}; shadow challenger "
        f"{shadow['challenger_value']:.3f} beside the champion's {shadow['champion_value']:.3f} on {shadow['rows']:,} rows.",
        f"- Peak RSS of the whole process (fixture building included): {peak_mb:,.0f} MB.",
    ]
    section = "\n".join(lines) + "\n"
    write_section(args.out, SECTION, section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
