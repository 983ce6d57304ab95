"""A seeded generator of a realistic churn table: the demo's warehouse, and fixtures of any size.

Each row is a customer snapshot: tenure, contract, charges, support tickets, region, payment
method, a few missing values, and a churn label drawn from a logistic model of those features.
A `World` describes the data-generating process of a period, so scripted events (a pricing
change, a broken upstream load) are just another World.

    python -m demo.churn_data --rows 100000 --seed 7 --start 2026-01-01 --end 2026-07-01 \
        --out customers.parquet          # or --warehouse-url sqlite:///x.db --table customer_snapshots
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

CONTRACTS = ("month_to_month", "one_year", "two_year")
PAYMENT_METHODS = ("electronic_check", "mailed_check", "bank_transfer", "credit_card")
REGIONS = ("north", "south", "east", "west")
TABLE = "customer_snapshots"


@dataclass(frozen=True)
class World:
    """The data-generating process of one period."""

    charges_shift: float = 0.0
    # Churn log-odds per contract type; a pricing change can make long contracts risky.
    contract_effect: dict[str, float] = field(
        default_factory=lambda: {"month_to_month": 0.9, "one_year": -0.6, "two_year": -1.6}
    )
    charges_effect: float = 0.025
    null_columns: tuple[str, ...] = ()
    renamed_categories: dict[str, dict[str, str]] = field(default_factory=dict)


STABLE = World()
PRICING_CHANGE = World(
    charges_shift=18.0,
    contract_effect={"month_to_month": 0.2, "one_year": 0.9, "two_year": -0.4},
    charges_effect=0.035,
)


def _rng(seed: int, start: datetime) -> np.random.Generator:
    # Seeded per period, so any week can be regenerated alone and gives the same rows.
    return np.random.default_rng([seed, int(start.timestamp())])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_snapshots(
    n_rows: int, start: datetime, end: datetime, *, seed: int = 0, world: World = STABLE
) -> pd.DataFrame:
    """n_rows snapshots with timestamps in (start, end], UTC, without a zone as warehouses keep them."""
    rng = _rng(seed, start)
    span = (end - start).total_seconds()
    offsets = np.sort(rng.uniform(0.0, span, n_rows) + 1e-3).clip(max=span)
    snapshot_at = pd.Timestamp(start.astimezone(UTC).replace(tzinfo=None)) + pd.to_timedelta(
        np.round(offsets), unit="s"
    )
    contract = rng.choice(CONTRACTS, n_rows, p=[0.55, 0.25, 0.20])
    tenure = np.minimum(rng.geometric(1 / 26, n_rows) - 1, 72)
    tenure = np.where(contract == "two_year", np.maximum(tenure, rng.integers(12, 40, n_rows)), tenure)
    base = np.select([contract == "month_to_month", contract == "one_year"], [72.0, 64.0], 58.0)
    charges = np.clip(rng.normal(base + world.charges_shift, 22.0), 18.0, None).round(2)
    tickets = rng.poisson(0.6 + 0.8 * (charges > 90), n_rows)
    payment = rng.choice(PAYMENT_METHODS, n_rows, p=[0.35, 0.2, 0.22, 0.23])
    region = rng.choice(REGIONS, n_rows)
    logit = (
        -1.3
        + np.vectorize(world.contract_effect.__getitem__)(contract)
        - 0.045 * tenure
        + world.charges_effect * (charges - 70.0)
        + 0.38 * tickets
        + 0.45 * (payment == "electronic_check")
        + 0.15 * (region == "south")
    )
    churned = (rng.uniform(size=n_rows) < _sigmoid(logit)).astype("int64")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed:03d}{int(start.timestamp()) % 10**7:07d}{i:07d}" for i in range(n_rows)],
            "snapshot_at": snapshot_at,
            "tenure_months": tenure.astype("int64"),
            "monthly_charges": charges,
            "support_tickets_90d": tickets.astype("float64"),
            "contract": contract,
            "payment_method": payment.astype(object),
            "region": region,
            "churned": churned,
        }
    )
    # Real tables have holes: a few charges, ticket counts and payment methods are missing.
    for column, share in (("monthly_charges", 0.03), ("support_tickets_90d", 0.02), ("payment_method", 0.02)):
        frame.loc[rng.uniform(size=n_rows) < share, column] = None
    for column in world.null_columns:
        frame[column] = None
    for column, mapping in world.renamed_categories.items():
        frame[column] = frame[column].replace(mapping)
    return frame


def _parse_date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def load_window(url: str, table: str, frame: pd.DataFrame, start: datetime, end: datetime) -> int:
    """Replace the table's rows of one time window (start, end] with `frame`, in one transaction,
    as an upstream load would: a rerun of the same window never duplicates its rows."""
    from include.retraining.warehouse import Database, naive_utc

    db = Database(url)
    ts = db.quote("snapshot_at")
    db.replace_rows(table, frame, f"{ts} > :s AND {ts} <= :e", {"s": naive_utc(start), "e": naive_utc(end)})
    return len(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=_parse_date, required=True, help="ISO date, UTC")
    parser.add_argument("--end", type=_parse_date, required=True, help="ISO date, UTC")
    parser.add_argument("--world", choices=["stable", "pricing_change"], default="stable")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write a Parquet file")
    target.add_argument("--warehouse-url", help="SQLAlchemy URL; replaces the window in --table")
    parser.add_argument("--table", default=TABLE)
    args = parser.parse_args(argv)
    world = PRICING_CHANGE if args.world == "pricing_change" else STABLE
    frame = generate_snapshots(args.rows, args.start, args.end, seed=args.seed, world=world)
    if args.out:
        frame.to_parquet(args.out, index=False)
    else:
        load_window(args.warehouse_url, args.table, frame, args.start, args.end)
    print(f"wrote {len(frame)} rows ({frame['churned'].mean():.1%} churned)")


if __name__ == "__main__":
    main()
