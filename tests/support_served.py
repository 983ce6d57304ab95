"""Served predictions for tests, in the predictions table's contract, written by `score_<model>`'s
own writer (`tables.replace_interval`), so the monitor reads exactly what scoring writes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

__all__ = ["log_version", "predictions_for", "read_predictions", "write_predictions"]


def predictions_for(
    source: pd.DataFrame, version: str, alias: str, scores: np.ndarray, start: datetime, end: datetime, model="churn"
) -> pd.DataFrame:
    """One prediction row per source row (`customer_id`, `snapshot_at`) of the interval (start, end]."""
    return pd.DataFrame(
        {
            "model": model,
            "model_version": version,
            "alias": alias,
            "id": source["customer_id"].astype(str).to_numpy(),
            "event_time": pd.to_datetime(source["snapshot_at"]).to_numpy(),
            "score": np.asarray(scores, dtype="float64"),
            "interval_start": pd.Timestamp(start).tz_localize(None),
            "interval_end": pd.Timestamp(end).tz_localize(None),
            "scored_at": pd.Timestamp(end).tz_localize(None),
            "run_id": f"scheduled__{pd.Timestamp(end):%Y-%m-%d}",
        }
    )


def write_predictions(url: str, frame: pd.DataFrame, table: str = "churn_predictions") -> None:
    """Replace each (model, interval_start, interval_end) of the frame, every alias at once, as a
    scoring run does."""
    from include.retraining.common import Window
    from include.retraining.predictions import replace_interval
    from include.retraining.warehouse import Database

    db = Database(url)

    for (model, start, end), rows in frame.groupby(["model", "interval_start", "interval_end"]):
        interval = Window(start.to_pydatetime().replace(tzinfo=UTC), end.to_pydatetime().replace(tzinfo=UTC))
        replace_interval(db, table, rows.reset_index(drop=True), model, interval)


def read_predictions(
    url: str, table: str = "churn_predictions", model: str = "churn", *, superseded: bool = False
) -> pd.DataFrame:
    """The model's live rows of the predictions table (the contract's columns), by interval, alias,
    event time and id, read with plain SQL (the pipeline itself only reads it joined to labels);
    with `superseded`, only the rows later runs replaced, with their `superseded_at`. Empty when
    there is no table."""
    import sqlalchemy as sa

    from include.retraining.predictions import PREDICTION_COLUMNS
    from include.retraining.warehouse import Database

    db = Database(url)
    columns = [*PREDICTION_COLUMNS, *(["superseded_at"] if superseded else [])]
    if not db.has_table(table):
        return pd.DataFrame(columns=columns)
    selected = ", ".join(db.quote(column) for column in columns)
    which = "IS NOT NULL" if superseded else "IS NULL"
    query = sa.text(
        f"SELECT {selected} FROM {db.quote(table)} WHERE model = :model AND superseded_at {which}"
        " ORDER BY interval_end, alias, event_time, id"
    )
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(query, conn, params={"model": model})


def log_version(settings, config, frame: pd.DataFrame, seed: int) -> str:
    """Fit the model on `frame` and log it as the retrain's train step does (skops, its snapshot,
    the dataset), then register it; the new version."""
    from include.retraining.artifacts import content_hash, write_parquet_atomic
    from include.retraining.learning import SKOPS_TRUSTED_TYPES, fit, synthetic_example
    from include.retraining.tracking import SNAPSHOT_HASH_TAG, ModelLog, Registry, TrainingRunLog
    from tests.support import tracker

    model = fit(config, frame)
    digest = content_hash(frame)
    path = write_parquet_atomic(frame, settings.artifact_root / f"{digest[:16]}.parquet")
    features = frame[config.features.columns].astype({c: "float64" for c in config.features.numeric})
    store_tracker = tracker(settings)
    record = TrainingRunLog(
        run_name=f"{config.name} test version {seed}",
        tags={SNAPSHOT_HASH_TAG: digest},
        params={"seed": seed},
        config_json=config.model_dump(mode="json"),
        frame=frame,
        snapshot_path=str(path),
        dataset_name=f"{config.name}-{seed}",
        target=config.target,
    )
    logged = store_tracker.log_training_run(
        store_tracker.ensure_experiment(config.name),
        record,
        ModelLog(model, features.head(100), synthetic_example(features, config), SKOPS_TRUSTED_TYPES),
    )
    return Registry(store_tracker, config.name).register_version(logged.model_uri, logged.run_id, {})


def labels_arrive(url: str, rows: pd.DataFrame) -> None:
    """The late labels of `rows` (`customer_id`, `churned`) land in the source table."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE customer_snapshots SET churned = :churned WHERE customer_id = :customer_id"),
                rows[["customer_id", "churned"]].to_dict("records"),
            )
    finally:
        engine.dispose()
