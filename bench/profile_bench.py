"""Benchmark: the reference profile against the champion snapshot it replaces, at N rows.

    .venv/bin/python bench/profile_bench.py [--rows 1000000]

Builds a churn window of `--rows` rows (demo generator, seed 1), writes its snapshot, then times
in CPU seconds (the machine is shared; CPU time is what an idle core would take): building and
writing the profile at training; what validate learned from the champion before (read the whole
snapshot, then profile it) and now (read profile.json); what the monitor's reference reads before
(the whole snapshot) and now (the sample). Asserts validation learns the same either way. The
section "## Reference profile" of `--out` is rewritten.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docs_section import write_section  # noqa: E402  (needs the repo root)

SECTION = "## Reference profile"


def _cpu(call):
    start = time.process_time()
    result = call()
    return result, time.process_time() - start


def measure(rows: int) -> dict:
    from demo.churn_data import generate_snapshots
    from include.retraining.artifacts import read_snapshot, write_snapshot
    from include.retraining.common import Window
    from include.retraining.config import load_model_config
    from include.retraining.learning import learned_profile
    from include.retraining.reference import build_profile, read_reference, write_reference

    config = load_model_config(ROOT / "include" / "models" / "churn.yaml")
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC))
    frame = generate_snapshots(rows, window.start, window.end, seed=1)
    folder = Path(tempfile.mkdtemp(prefix="profile-bench-"))
    snapshot = write_snapshot(frame, folder, "churn", window)
    start = time.process_time()
    write_reference(frame, config, folder / "reference")
    build = time.process_time() - start
    del frame  # the reads below start from disk, as validate and the monitor do
    old, old_s = _cpu(lambda: learned_profile(build_profile(read_snapshot(snapshot.path), config)[0]))
    new, new_s = _cpu(lambda: learned_profile(read_reference(folder / "reference")))
    assert old == new, "validation must learn the same from the profile as from the snapshot"
    sample, sample_s = _cpu(lambda: read_snapshot(read_reference(folder / "reference").sample_path))
    full, full_s = _cpu(lambda: read_snapshot(snapshot.path))
    return {
        "rows": snapshot.rows,
        "build": build,
        "old": old_s,
        "new": new_s,
        "sample_read": sample_s,
        "full_read": full_s,
        "sample_rows": len(sample),
        "full_mb": full.memory_usage(deep=True).sum() / 2**20,
        "sample_mb": sample.memory_usage(deep=True).sum() / 2**20,
        "snapshot_mb": snapshot.path.stat().st_size / 2**20,
        "profile_kb": (folder / "reference" / "profile.json").stat().st_size / 1024,
        "sample_file_mb": (folder / "reference" / "sample.parquet").stat().st_size / 2**20,
    }


def render(f: dict, load: tuple[float, float]) -> str:
    return "\n".join(
        [
            SECTION,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `bench/profile_bench.py --rows {f['rows']}` on "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
            f"{load[0]:.1f} at the start, {load[1]:.1f} at the end (CPU seconds, not wall time: what an idle core takes).",
            "",
            "| what | before (the champion's snapshot) | now (its reference profile) |",
            "|---|---|---|",
            f"| stored in MLflow per training run | a copy of the snapshot, {f['snapshot_mb']:.1f} MB | profile.json "
            f"{f['profile_kb']:.1f} KB + sample.parquet {f['sample_file_mb']:.2f} MB ({f['sample_rows']:,} rows) |",
            f"| validate: learn null shares and categories | {f['old']:.2f} s (read and profile "
            f"{f['rows']:,} rows) | {f['new'] * 1000:.1f} ms (read profile.json) |",
            f"| monitor reference: rows read | {f['full_read']:.2f} s, {f['full_mb']:.0f} MB in memory | "
            f"{f['sample_read'] * 1000:.0f} ms, {f['sample_mb']:.1f} MB |",
            f"| train: build and write the profile | | {f['build']:.2f} s |",
            "",
            "- Validation learns the same null shares and categories from either (asserted).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    start = os.getloadavg()[0]
    figures = measure(args.rows)
    section = render(figures, (start, os.getloadavg()[0]))
    write_section(args.out, SECTION, section, "Benchmarks")
    print(section)


if __name__ == "__main__":
    main()
