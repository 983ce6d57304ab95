"""Benchmark: the alert outbox (table `alert_outbox`) with 100,000 alerts recorded, on SQLite and
PostgreSQL; and the JSON-lines file outbox it replaced, for contrast.

    .venv/bin/python -m tools.services -- .venv/bin/python bench/outbox_bench.py [--alerts 100000]   # or make bench-outbox

For each backend (a new SQLite file; a new, uniquely named PostgreSQL database, dropped after):
times what a task does with the outbox on an empty table, then again after `--alerts` delivered
alerts (and 100 pending ones, not yet due) were bulk-loaded: `record` of a new alert, `flush`
with nothing due (every successful task's callback: the due query and the retention's prune), and
a whole `deliver` (record, flush, one post to a sink that accepts, read back), each in a session
of its own as a task opens it. Medians of `--repeat` calls. The file outbox of commit
`--file-commit` (read from git) is timed the same way at the same sizes, unless it cannot be read.
The section "## Alert outbox" of `--out` is rewritten.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root)

SECTION = "## Alert outbox"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
PENDING_NOT_DUE = 100


def _median_ms(call: Callable[[int], object], repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _alert(key: str):
    from include.retraining.alerts import Alert

    return Alert("gate_blocked", "churn", "churn: challenger blocked", ["auc 0.79 < 0.80"], dedup_key=key)


def _sink(alert, conn_id: str) -> str:
    return "slack"


def _timed_ops(outbox: Callable[[], object], flush, deliver, label: str, repeat: int) -> dict[str, float]:
    """Median times of `record` (a new alert), `flush` (nothing due) and `deliver` (a new alert)."""
    tag = f"{label}-{uuid.uuid4().hex[:6]}"
    figures = {f"record {label}": _median_ms(lambda i: outbox().record(_alert(f"{tag}/r{i}"), "c"), repeat)}
    flush(outbox(), _sink)  # what was recorded above is delivered: the flushes below find nothing due
    figures[f"flush {label}"] = _median_ms(lambda i: flush(outbox(), _sink), repeat)
    figures[f"deliver {label}"] = _median_ms(
        lambda i: deliver(outbox(), _alert(f"{tag}/d{i}"), "c", _sink, sleep=lambda s: None), repeat
    )
    return figures


def _bulk_load(db, alerts: int) -> None:
    """`alerts` delivered rows and PENDING_NOT_DUE pending ones, in one executemany."""
    import sqlalchemy as sa

    from include.retraining.tables import ALERT_OUTBOX_TABLE

    then = (NOW - timedelta(days=30)).replace(tzinfo=None)
    later = (NOW + timedelta(days=1)).replace(tzinfo=None)
    payload = _alert("x").to_dict()
    with db.engine() as engine, engine.begin() as conn:
        table = sa.Table(ALERT_OUTBOX_TABLE, sa.MetaData(), autoload_with=conn)
        rows = [
            {
                "alert_key": f"bulk/{i}/gate",
                "alert": {**payload, "dedup_key": f"bulk/{i}/gate"},
                "conn_id": "slack_alerts",
                "status": "pending" if i < PENDING_NOT_DUE else "delivered",
                "attempts": 1,
                "next_attempt_at": later if i < PENDING_NOT_DUE else None,
                "last_attempt_at": then,
                "last_error": "",
                "delivered_to": "slack",
                "recorded_at": then,
                "updated_at": then,
            }
            for i in range(alerts + PENDING_NOT_DUE)
        ]
        for start in range(0, len(rows), 10_000):
            conn.execute(sa.insert(table), rows[start : start + 10_000])


def _table_figures(db, alerts: int, repeat: int) -> dict[str, float]:
    from include.retraining.alerts import Outbox, deliver, flush

    def outbox() -> Outbox:
        return Outbox(db, lambda: NOW)

    outbox().record(_alert("warm/0/gate"), "slack_alerts")  # the schema made and upgraded first
    figures: dict[str, float] = {}
    for size, label in ((0, "empty"), (alerts, "full")):
        if size:
            _bulk_load(db, size)
        figures.update(_timed_ops(outbox, flush, deliver, label, repeat))
    figures["rows"] = float(sum(outbox().counts().values()))
    return figures


def _file_outbox(commit: str):
    """The file outbox's module as commit `commit` had it; None when git cannot show it."""
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:include/retraining/alerts/outbox.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "file_outbox.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("file_outbox", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["file_outbox"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _file_figures(module, alerts: int, repeat: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="outbox_bench_"))
    path = folder / "alerts.jsonl"
    figures: dict[str, float] = {}
    for size, label in ((0, "empty"), (alerts, "full")):
        if size:
            at = (NOW - timedelta(days=30)).isoformat()
            with path.open("a") as handle:
                for i in range(size):
                    key = f"bulk/{i}/gate"
                    alert = {**_alert(key).to_dict()}
                    handle.write(
                        json.dumps({"event": "recorded", "key": key, "conn_id": "c", "alert": alert, "at": at}) + "\n"
                    )
                    handle.write(json.dumps({"event": "attempt", "key": key, "attempt": 1, "at": at}) + "\n")
                    handle.write(
                        json.dumps(
                            {
                                "event": "result",
                                "key": key,
                                "attempt": 1,
                                "outcome": "delivered",
                                "to": "slack",
                                "at": at,
                            }
                        )
                        + "\n"
                    )
        outbox = functools.partial(module.Outbox, path, lambda: NOW)
        figures.update(_timed_ops(outbox, module.flush, module.deliver, label, repeat))
    figures["size MB"] = path.stat().st_size / 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--file-commit", default="aab1a16", help="a commit that still had the JSON-lines outbox")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from include.retraining.warehouse import Database

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite file"] = _table_figures(Database(f"sqlite:///{folder}/pipeline.db"), args.alerts, args.repeat)
    admin = os.environ.get("RETRAINING_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    name = f"outbox_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        results["PostgreSQL (loopback)"] = _table_figures(Database(url), args.alerts, args.repeat)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
    module = _file_outbox(args.file_commit)
    file_repeat = max(3, args.repeat // 10)  # at 100,000 alerts each call of the file outbox takes seconds
    if module is not None:
        results[f"JSON-lines file (commit {args.file_commit})"] = _file_figures(module, args.alerts, file_repeat)

    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `make bench-outbox` (`bench/outbox_bench.py --alerts "
        f"{args.alerts} --repeat {args.repeat}`) on {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, SQLAlchemy {sa.__version__}; load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        f"Each figure is the median of {args.repeat} calls ({file_repeat} for the file), each call in a session of its "
        f"own as a task opens it: *empty* on a new table, *full* after {args.alerts:,} delivered alerts and "
        f"{PENDING_NOT_DUE} pending ones not yet due were loaded. `flush` finds nothing due (every successful task's "
        "callback: the due query and the retention's prune); `deliver` records a new alert, flushes, posts it to a sink "
        "that accepts and reads its status back.",
        "",
        "| outbox | record, empty | record, full | flush, empty | flush, full | deliver, empty | deliver, full |",
        "|---|---|---|---|---|---|---|",
    ]
    for name_, f in results.items():
        cells = [f"{f[f'{op} {size}']:.1f} ms" for op in ("record", "flush", "deliver") for size in ("empty", "full")]
        lines.append(f"| {name_} | " + " | ".join(cells) + " |")
    lines.append("")
    for name_, f in results.items():
        ratio = max(f[f"{op} full"] / f[f"{op} empty"] for op in ("record", "flush", "deliver"))
        extra = f", file {f['size MB']:.0f} MB" if "size MB" in f else f", {f['rows']:,.0f} rows at the end"
        lines.append(
            f"- {name_}: the slowest operation at {args.alerts:,} alerts takes {ratio:.1f}x its time on an empty outbox{extra}."
        )
    section = "\n".join(lines) + "\n"
    write_section(args.out, SECTION, section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
