"""The monitor's `verify_promotion` task: once the labels of a window after the champion's training
data have matured, the champion and the version its promotion replaced are scored on those rows
and compared with the gate's own paired test; the verdict against the gate's promise is one row of
`promotion_outcomes` (`promotion.verification` says what each verdict means), and a promotion that
made things significantly worse alerts once.

Which promotion: the newest move of `champion` to the monitored version (the champion when this
run began) in the promotion log, when it is a promotion or an approval from another version; so
the auto_rollback task of the same run, which may move `champion` back meanwhile, takes nothing
from it. Which window: the first monitored window whose matured part starts at or after the end of
the champion's training window (its `window_end` tag), so neither version trained on its rows; a
rerun of that window replaces the row, a later window leaves it as it stands.
"""

from __future__ import annotations

from datetime import UTC, datetime

from include.retraining.alerts import Alert
from include.retraining.common import Window, as_utc
from include.retraining.learning import ImprovementInterval
from include.retraining.monitor.contracts import CurrentWindow, Reference
from include.retraining.monitor.paired import NotComparable, matured_pair
from include.retraining.promotion import REGRESSED, gate_interval, promise, verdict
from include.retraining.runs import StepContext
from include.retraining.tables import (
    PromotionAction,
    PromotionOutcomeRow,
    PromotionRecord,
    history,
    outcome_of,
    record_outcome,
)
from include.retraining.tracking import WINDOW_END_TAG

VERIFIED_MOVES = (PromotionAction.PROMOTE, PromotionAction.APPROVE)
MOVES_LOOKBACK = 200  # log rows searched for the move that made the champion


class NothingToVerify(Exception):
    """No promotion to verify on this window; the message says why."""


def verify_promotion(ctx: StepContext, ref: Reference, cur: CurrentWindow) -> tuple[PromotionOutcomeRow, Alert | None]:
    """The champion's promotion checked on this window's matured rows: the row that stands, and
    the alert when it regressed. Raises NothingToVerify with the reason otherwise."""
    move = _promotion_to_verify(ctx, ref, cur.matured_window)
    config = ctx.config
    try:
        y, new_scores, old_scores = matured_pair(ctx, ref, cur, str(move.from_version), "the replaced version")
    except NotComparable as exc:
        raise NothingToVerify(str(exc)) from exc.__cause__
    realized = gate_interval(config, config.primary_metric, y, new_scores, old_scores)
    stored = record_outcome(ctx.pipeline_db, _outcome_row(ctx, move, cur.matured_window, realized))
    return stored, regressed_alert(ctx, stored) if stored.verdict == REGRESSED else None


def _promotion_to_verify(ctx: StepContext, ref: Reference, window: Window) -> PromotionRecord:
    """The log row that made `ref` champion, when it is a promotion this window may verify."""
    model = ctx.config.name
    move = _move_to(ctx, ref.version)
    if move is None or move.action not in VERIFIED_MOVES or not move.from_version:
        said = f"{move.action.value} from {move.from_version or 'none'}" if move is not None else "none logged"
        raise NothingToVerify(
            f"model {model!r}: the move that made version {ref.version} champion ({said}) is no promotion over "
            "another version"
        )
    standing = outcome_of(ctx.pipeline_db, int(move.id))
    if standing is not None and standing.window_end != window.end:
        raise NothingToVerify(
            f"model {model!r}: promotion {move.id} (version {move.from_version} -> {move.to_version}) was verified on "
            f"the window ending {standing.window_end.isoformat()}: {standing.verdict}"
        )
    trained_until = ctx.tracker.run_tags(ref.run_id).get(WINDOW_END_TAG)
    if not trained_until:
        raise NothingToVerify(f"model {model!r}: version {ref.version}'s run has no {WINDOW_END_TAG} tag")
    if window.start < as_utc(datetime.fromisoformat(trained_until)):
        raise NothingToVerify(
            f"model {model!r}: the matured window {window.start.isoformat()} .. {window.end.isoformat()} starts before "
            f"the end of version {ref.version}'s training window ({trained_until}); a later run verifies it"
        )
    return move


def _outcome_row(
    ctx: StepContext, move: PromotionRecord, window: Window, realized: ImprovementInterval
) -> PromotionOutcomeRow:
    promised_difference, promised_lower = promise(move.figures)
    held, said = verdict(realized, promised_lower)
    return PromotionOutcomeRow(
        promotion_id=int(move.id),
        model=ctx.config.name,
        from_version=str(move.from_version),
        to_version=move.to_version,
        window_start=window.start,
        window_end=window.end,
        rows=realized.rows,
        metric=realized.metric,
        promised_difference=promised_difference,
        promised_lower=promised_lower,
        realized_difference=realized.difference,
        realized_lower=realized.lower,
        realized_upper=realized.upper,
        confidence=realized.confidence,
        method=realized.method,
        bound_held=held,
        verdict=said,
        airflow_run_id=ctx.run.run_id,
        verified_at=datetime.now(UTC),
    )


def _move_to(ctx: StepContext, version: str) -> PromotionRecord | None:
    """The newest row of the log that moved `champion` to `version`."""
    moves = history(ctx.pipeline_db, ctx.config.name, MOVES_LOOKBACK)
    return next((r for r in moves if r.to_version == version and r.action is not PromotionAction.REJECT), None)


def summary(row: PromotionOutcomeRow) -> str:
    """One line: the realized difference, its interval and what was promised."""
    said = (
        f"version {row.to_version} vs the version it replaced ({row.from_version}) on {row.rows:,} matured rows "
        f"({row.window_start.isoformat()} .. {row.window_end.isoformat()}): {row.metric} {row.realized_difference:+.4f}, "
        f"{row.confidence:.0%} interval {row.realized_lower:+.4f} .. {row.realized_upper:+.4f}"
    )
    if row.promised_lower is None:
        return f"{said}; the move was not backed by the gate's interval"
    return f"{said}; the gate promised at least {row.promised_lower:+.4f} ({'held' if row.bound_held else 'not held'})"


def regressed_alert(ctx: StepContext, row: PromotionOutcomeRow) -> Alert:
    """Once per promotion (its log row id is the key); a rerun of the window records nothing new."""
    model = ctx.config.name
    rollback = (
        "monitor.auto_rollback is on: the auto_rollback task of this run moves champion back when the previous "
        "version is significantly better at monitor.auto_rollback_confidence."
        if ctx.config.monitor.auto_rollback
        else f"Roll back with rollback_{model} (Models page or `airflow dags trigger rollback_{model}`)."
    )
    lines = [
        f"Promotion {row.promotion_id} made {model} significantly worse: {summary(row)}.",
        rollback,
    ]
    figures = {
        "metric": row.metric,
        "realized_difference": row.realized_difference,
        "realized_upper": row.realized_upper,
    }
    return Alert(
        "promotion_regressed",
        model,
        f"{model}: promotion of version {row.to_version} regressed",
        lines,
        {"Airflow run": ctx.run_url},
        figures,
        f"{model}/promotion/{row.promotion_id}/regressed",
    )
