"""The source as it was: warehouses are corrected after the fact (a broken load reloaded, late
rows backfilled), and a backtest that reads only today's state replays decisions on rows the runs
never saw. Teams with time travel (Snowflake `AT`, BigQuery `FOR SYSTEM_TIME AS OF`, Delta Lake
versions) or backups can give earlier states: `--source-before UNTIL=URL` makes the runs before
UNTIL read the database at URL. Each is checked before anything runs: it answers, and it holds the
model's source with the columns the runs read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from include.retraining.backtest.plan import BacktestPlanError, SourceBefore
from include.retraining.config import ModelConfig
from include.retraining.warehouse import Warehouse, WarehouseError


def _open(config: ModelConfig, spec: SourceBefore, now: Warehouse) -> Warehouse:
    option = f"--source-before {spec.until.isoformat()}"
    try:
        earlier = Warehouse(spec.url)
    except Exception as exc:  # noqa: BLE001 - the URL parser's errors are SQLAlchemy's types: the refusal names it
        raise BacktestPlanError(
            f"model {config.name!r}: {option}: {spec.url!r} is not a SQLAlchemy URL ({exc})"
        ) from None
    if earlier.same_database(now):
        raise BacktestPlanError(
            f"model {config.name!r}: {option}: {earlier.display} is the model's own connection, the source as it is "
            "now; give the URL of the earlier state (a backup, a copy, a time-travel view)"
        )
    if earlier.database_file is not None and not Path(earlier.database_file).is_file():
        raise BacktestPlanError(f"model {config.name!r}: {option}: no database file {earlier.database_file}")
    source = config.source
    needed = [source.timestamp_column, config.target, *config.features.columns]
    try:
        present = earlier.source_columns(source, model=config.name)
    except WarehouseError as exc:
        raise BacktestPlanError(f"model {config.name!r}: {option}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure to answer is the refusal, with the driver's words
        raise BacktestPlanError(
            f"model {config.name!r}: {option}: {earlier.display} does not answer ({type(exc).__name__}: {exc})"
        ) from None
    missing = [column for column in dict.fromkeys(needed) if column not in present]
    if missing:
        raise BacktestPlanError(
            f"model {config.name!r}: {option}: the source in {earlier.display} has no column(s) {missing} "
            f"(present: {sorted(present)}); give the URL of a copy of the model's source"
        )
    return earlier


def open_sources_before(
    config: ModelConfig, now: Warehouse, specs: tuple[SourceBefore, ...]
) -> tuple[tuple[datetime, Warehouse], ...]:
    """Each earlier state of the source, checked, oldest `until` first."""
    return tuple((spec.until, _open(config, spec, now)) for spec in sorted(specs, key=lambda s: s.until))
