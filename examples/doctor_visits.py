"""The second bundled model's table: outpatient visits from the RAND Health Insurance Experiment.

The data set ships with statsmodels (already installed: Evidently depends on it), so nothing is
downloaded. It has no time and no id, so each row gets both: `record_id` is its row number in
statsmodels' copy, and `observed_at` places it in a year of weekly windows by a seeded
permutation (about 390 rows a week, every timestamp distinct). The table is the shape the
pipeline reads: an id, a timestamp, the target `mdvis`, the features, and an index on the
timestamp (every window read is a range on it).

    python -m examples.doctor_visits --warehouse-url sqlite:///.data/warehouse.db

A rerun replaces the table's rows in one transaction: the same rows, never twice.

It lives in examples/ with its model file (examples/models/doctor_visits.yaml): demo/ is the churn
story's runner, and include/ is what Airflow imports, so the image ships neither. It uses only
pandas and SQLAlchemy, nothing from include/, as a user's own loader would.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

TABLE = "doctor_visits"
ID, TIMESTAMP, TARGET = "record_id", "observed_at", "mdvis"
FEATURES = ("lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp")
START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, the weekday of the model file's crons
WEEKS = 52
SEED = 2025


def doctor_visits(start: datetime = START, weeks: int = WEEKS, seed: int = SEED) -> pd.DataFrame:
    """Every row of the data set with an id and a timestamp in (start, start + weeks], UTC
    without a zone as warehouses keep it; the same frame for the same arguments."""
    from statsmodels.datasets import randhie

    data = randhie.load_pandas().data
    order = np.random.default_rng(seed).permutation(len(data))
    span = timedelta(weeks=weeks).total_seconds()
    # The k-th row of the permutation at (k + 1) / n of the span: evenly spread, none at `start`.
    offsets = np.floor((np.arange(len(data)) + 1) * span / len(data))
    frame = data.iloc[order].reset_index(drop=True)
    frame.insert(0, ID, order.astype("int64"))
    frame.insert(1, TIMESTAMP, pd.Timestamp(start.astimezone(UTC).replace(tzinfo=None)) + pd.to_timedelta(offsets, "s"))
    return frame[[ID, TIMESTAMP, TARGET, *FEATURES]]


def load(url: str, frame: pd.DataFrame, table: str = TABLE) -> int:
    """Replace the table's rows with `frame` in one transaction, creating the table and its
    indexes (the timestamp for window reads, the id unique) on the first load."""
    path = sa.engine.make_url(url).database
    if url.startswith("sqlite") and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # an embedded warehouse's folder, e.g. .data/
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            quote = conn.dialect.identifier_preparer.quote
            if sa.inspect(conn).has_table(table):
                conn.execute(sa.text(f"DELETE FROM {quote(table)}"))
            frame.to_sql(table, conn, if_exists="append", index=False, chunksize=5000)
            for name, unique, column in (
                (f"ix_{table}_{TIMESTAMP}", "", TIMESTAMP),
                (f"ux_{table}_{ID}", "UNIQUE ", ID),
            ):
                conn.execute(
                    sa.text(f"CREATE {unique}INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({quote(column)})")
                )
    finally:
        engine.dispose()
    return len(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse-url", required=True, help="SQLAlchemy URL, e.g. sqlite:///.data/warehouse.db")
    parser.add_argument("--table", default=TABLE)
    args = parser.parse_args(argv)
    frame = doctor_visits()
    rows = load(args.warehouse_url, frame, args.table)
    first, last, visits = frame[TIMESTAMP].min(), frame[TIMESTAMP].max(), frame[TARGET]
    print(
        f"wrote {rows} rows to {args.table}, {first} to {last} UTC; {TARGET}: mean {visits.mean():.2f}, "
        f"SD {visits.std():.2f}, max {visits.max()}, {(visits == 0).mean():.0%} zeros"
    )


if __name__ == "__main__":
    main()
