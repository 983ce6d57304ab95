"""Steps of `score_<model>`: pin the versions and the interval, then read, score and write.

`plan` resolves the aliases once, so both tasks of a run use the same versions even if an alias
moves meanwhile. `score` reads the interval's rows, scores them with the champion (and the shadow
challenger, or the version on canary: `answered` then marks which of the two scores each row's
consumer takes, by the REST server's sticky rule), and replaces the interval in the predictions
table in one transaction: bad input raises before anything is written, so a failed run leaves the
interval as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.alerts import Alert
from include.retraining.common import Window
from include.retraining.config import SourceConfig
from include.retraining.learning import model_features
from include.retraining.predictions import (
    ANSWERED,
    ensure_predictions_table,
    grant_predictions_append,
    prune_predictions_before,
    replace_interval,
)
from include.retraining.promotion import on_canary
from include.retraining.runs import StepContext
from include.retraining.score.canary import canary_rows
from include.retraining.score.contracts import (
    Alias,
    AliasScored,
    NoChampion,
    ScoringPlan,
    ScoringResult,
    ShadowOutcome,
)
from include.retraining.score.scoring import (
    ScoringInputError,
    Stamp,
    prediction_rows,
    score_with_report,
    scoring_interval,
)
from include.retraining.tracking import UnusableModelError
from include.retraining.warehouse import WarehouseError


def plan(ctx: StepContext) -> ScoringPlan:
    """The grid interval that ends at or before the run's moment, and the versions behind
    `champion` and (with `scoring.shadow`) `challenger` now."""
    config = ctx.config
    scoring = config.scoring_or_defaults
    interval = scoring_interval(scoring.schedule, ctx.run.window_end)
    champion = ctx.registry.champion()
    if champion is None:
        raise NoChampion(f"model {config.name!r} has no alias `champion` yet: nothing to score until one is promoted")
    found = ctx.registry.alias(Alias.CHALLENGER.value) if scoring.shadow or config.serving.canary else None
    found = found if found is not None and found.version != champion.version else None
    canary = config.serving.canary.fraction if config.serving.canary and found and on_canary(found.tags) else None
    challenger, shadow = None, ShadowOutcome.OFF
    if scoring.shadow or canary is not None:  # a version on canary is scored with or without shadow
        challenger, shadow = (found.version, ShadowOutcome.SCORED) if found else (None, ShadowOutcome.NONE)
    return ScoringPlan(
        interval=interval,
        table=config.predictions_table,
        champion=champion.version,
        challenger=challenger,
        shadow=shadow,
        canary=canary,
    )


def score(ctx: StepContext, planned: ScoringPlan, scored_at: datetime) -> ScoringResult:
    """Read (start, end], score with every planned version, replace the interval's rows."""
    config = ctx.config
    source = scoring_source(ctx)
    window = planned.interval
    models, shadow, shadow_error = _models(ctx, planned)
    columns = [source.timestamp_column, source.id_column]
    for _, _, model in models:
        columns += model_features(model, config.features.columns)
    rows = _read(ctx, source, list(dict.fromkeys(columns)), window)
    nulls = int(rows[source.id_column].isna().sum())
    if nulls:
        raise ScoringInputError(
            f"model {config.name!r}: {nulls} row(s) of the scoring window have no {source.id_column!r}; every "
            "prediction needs the source id (the predictions table's `id`): fix the upstream load"
        )
    frames, scored = [], []
    answered = _canary_split(rows, source.id_column, planned, models)
    for alias, version, model in models:
        scores, report = score_with_report(model, rows, config, ctx.settings.fit_threads)
        stamp = Stamp(config.name, version, alias.value, window, scored_at, ctx.run.run_id)
        frame = prediction_rows(rows, scores, source.id_column, source.timestamp_column, stamp)
        if answered is not None:
            frame[ANSWERED] = answered if alias is Alias.CHALLENGER else ~answered
        frames.append(frame)
        scored.append(
            AliasScored(
                alias=alias,
                version=version,
                rows=len(rows),
                nulls=report.nulls,
                unseen=report.unseen,
                invalid=report.invalid,
            )
        )
    if ctx.settings.serving_db_role:  # the REST server's log may append to the table, and no more
        ensure_predictions_table(ctx.pipeline_db, planned.table)
        grant_predictions_append(ctx.pipeline_db, planned.table, ctx.settings.serving_db_role)
    written = replace_interval(
        ctx.pipeline_db, planned.table, pd.concat(frames, ignore_index=True), config.name, window
    )
    return ScoringResult(
        interval=window,
        table=planned.table,
        rows=written,
        scored=scored,
        shadow=shadow,
        shadow_error=shadow_error,
        pruned=prune_predictions(ctx, planned),
    )


def _canary_split(
    rows: pd.DataFrame, id_column: str, planned: ScoringPlan, models: list[tuple[Alias, str, Any]]
) -> np.ndarray | None:
    """The rows the version on canary answers (the REST server's sticky rule: every batch row has
    its id), or None without a canary that loaded: then the champion answered every row."""
    if planned.canary is None or not any(alias is Alias.CHALLENGER for alias, _, _ in models):
        return None
    return canary_rows(rows, id_column, planned.canary, lambda: 1.0)


def prune_predictions(ctx: StepContext, planned: ScoringPlan) -> int:
    """Delete the rows older than `retention.predictions_days` before the interval just written:
    counted from the interval, not the clock, so a backfill of a past window keeps what was served
    around it, and a rerun deletes nothing more."""
    days = ctx.config.retention.predictions_days
    if days is None:
        return 0
    cutoff = planned.interval.end - timedelta(days=days)
    return prune_predictions_before(ctx.pipeline_db, planned.table, ctx.config.name, cutoff)


def scoring_source(ctx: StepContext) -> SourceConfig:
    """The rows to score: `scoring.table`/`scoring.query`, else the model's source; it needs an id."""
    config = ctx.config
    source = config.scoring_or_defaults.source_for(config.source)
    if source.id_column is None:
        raise ScoringInputError(
            f"model {config.name!r}: scoring needs `source.id_column` (each prediction is stored with the id of "
            "its source row); set it in the model file"
        )
    return source


def _read(ctx: StepContext, source: SourceConfig, columns: list[str], window: Window) -> pd.DataFrame:
    """The interval's rows; a refusal (a missing column, a bad query, a text timestamp, too many rows
    without a time: those would never be scored) names where the rows came from."""
    try:
        ctx.warehouse.check_timestamps(ctx.config, source)
        return ctx.warehouse.read_window(source, columns, window.start, window.end, model=ctx.config.name)
    except WarehouseError as exc:
        scoring = ctx.config.scoring_or_defaults
        where = "`scoring.table`" if scoring.table else "`scoring.query`" if scoring.query else "the model's `source`"
        raise ScoringInputError(f"{exc} (score_{ctx.config.name} reads its rows from {where})") from exc


def _models(ctx: StepContext, planned: ScoringPlan) -> tuple[list[tuple[Alias, str, Any]], ShadowOutcome, str]:
    """The planned versions, loaded by version; a challenger that cannot be loaded is left out
    (the champion's rows are still written), an unusable champion raises."""
    name = ctx.config.name
    models = [(Alias.CHAMPION, planned.champion, ctx.tracker.load_model(f"models:/{name}/{planned.champion}"))]
    shadow, error = planned.shadow, ""
    if planned.challenger is not None:
        try:
            challenger = ctx.tracker.load_model(f"models:/{name}/{planned.challenger}")
            models.append((Alias.CHALLENGER, planned.challenger, challenger))
        except UnusableModelError as exc:
            shadow, error = ShadowOutcome.UNUSABLE, f"challenger version {planned.challenger}: {exc}"
    return models, shadow, error


def scoring_stopped_alert(ctx: StepContext, reason: str, dedup_key: str) -> Alert:
    name = ctx.config.name
    lines = [reason, "Nothing was written for this interval; fix the cause, then clear the run's `score` task."]
    return Alert(
        "scoring_stopped", name, f"{name}: scoring stopped", lines, {"Airflow run": ctx.run_url}, {}, dedup_key
    )


def shadow_unusable_alert(ctx: StepContext, reason: str, dedup_key: str) -> Alert:
    name = ctx.config.name
    lines = [reason, "The champion's predictions were written; the shadow challenger's are missing for this run."]
    title = f"{name}: shadow challenger not scored"
    return Alert("shadow_unusable", name, title, lines, {"Airflow run": ctx.run_url}, {}, dedup_key)
