"""The retraining steps, one function per `retrain_<model>` task, each taking the task's step
context and the typed results of earlier tasks (`contracts.py`).

A step reads what the previous one wrote (a snapshot path, an MLflow run id), so a retry or a
rerun of the same window repeats the same work and finds what it already did instead of
duplicating it. MLflow is reached only through `ctx.tracker` and `ctx.registry`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

from include.retraining import tracking
from include.retraining.alerts import Alert, gate_blocked_alert
from include.retraining.artifacts import (
    read_snapshot,
    validation_dir,
    write_snapshot,
    write_snapshot_batches,
)
from include.retraining.common import Window, training_window
from include.retraining.config import ModelConfig
from include.retraining.learning import TrainingDataError, check_trainable, synthetic_example
from include.retraining.promotion import (
    Approval,
    Baseline,
    Evaluated,
    Promotion,
    PromotionOutcome,
    baseline_for,
    champion_unusable_alert,
    fail_closed,
)
from include.retraining.reference import ARTIFACT_DIR, write_reference
from include.retraining.retrain.contracts import Extracted, Trained, Validated
from include.retraining.retrain.record import training_record
from include.retraining.runs import StepContext
from include.retraining.tracking import COMPARED_WITH_TAG, DECISION_TAG, Champion

# Keys added after models were trained with this hash: left out while empty, so an upgrade keeps every
# existing model's hash (a rerun still reuses its run, pooled evidence still pools).
_ADDED_LATER = (("features", "steps"), ("training", "trusted_types"))


def config_hash(config: ModelConfig) -> str:
    """Hash of what shapes a trained model, so a rerun with the same data and config is the same run."""
    relevant = config.model_dump(include={"task", "source", "target", "features", "training"})
    for section, key in _ADDED_LATER:
        if not relevant[section][key]:
            del relevant[section][key]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def extract(ctx: StepContext) -> Extracted:
    """Stream the training window into a content-addressed snapshot (never the whole window in
    memory on PostgreSQL); a window with fewer than `training.min_rows` rows writes nothing."""
    config, warehouse = ctx.config, ctx.warehouse
    window = training_window(ctx.run.window_end, config.training.window_days, config.training.label_delay_days)
    columns = [config.source.timestamp_column, config.target, *config.features.columns]
    if config.source.id_column:
        columns.insert(0, config.source.id_column)
    # The id stays in the snapshot (validation checks (id, timestamp) unique, split_by_time orders
    # by it) but is written without a dictionary: its values are unique.
    ids = [config.source.id_column] if config.source.id_column else []
    warehouse.check_timestamps(config)  # refuses a text column, or too many rows without a time
    if config.training.sample_rows:
        frame, rows = warehouse.read_window_sample(config, columns, window.start, window.end)
        _check_min_rows(config, window, rows)
        snapshot = write_snapshot(frame, ctx.settings.artifact_root, config.name, window, plain_strings=ids)
    else:
        check = partial(_check_min_rows, config, window)
        read = partial(warehouse.window_batches, config.source, columns, window.start, window.end)
        with read(model=config.name) as batches:
            snapshot = write_snapshot_batches(batches, ctx.settings.artifact_root, config.name, window, check, ids)
    return Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, window)


def _check_min_rows(config: ModelConfig, window: Window, rows: int) -> None:
    if rows < config.training.min_rows:
        raise TrainingDataError(
            f"model {config.name!r}: the window {window.start:%Y-%m-%d %H:%M} .. {window.end:%Y-%m-%d %H:%M} "
            f"has {rows} rows, fewer than training.min_rows={config.training.min_rows}; "
            "check that the upstream load ran, or widen training.window_days"
        )


def validate(ctx: StepContext, extracted: Extracted) -> Validated:
    """Raises DataValidationError (with the report) when the window fails the suite. A model that
    trains on a sample (`training.sample_rows`) is also judged on every row of its window, by the
    warehouse's aggregates."""
    from include.retraining.learning import learned_profile, validate_or_raise
    from include.retraining.reference import champion_profile

    config, window = ctx.config, extracted.window
    champion = ctx.registry.champion()
    stored = champion_profile(ctx, str(champion.version), champion.run_id) if champion else None
    profile = learned_profile(stored) if stored is not None else None
    out_dir = validation_dir(ctx.settings.artifact_root, config.name, window)
    check = partial(_whole_window, ctx, window, profile) if config.training.sample_rows else None
    report = validate_or_raise(read_snapshot(extracted.path), config, profile, out_dir, check)
    return Validated(
        success=report.success,
        evaluated=report.evaluated,
        failed=[asdict(f) for f in report.failed],
        json_path=report.json_path,
        html_path=report.html_path,
        learned_from_champion=champion.version if profile else None,
    )


def _whole_window(ctx: StepContext, window: Window, profile: Any, report: Any) -> Any:
    """The sample's validation report with the checks of every row of its window, aggregated by
    the warehouse (a model that trains on `training.sample_rows`)."""
    from include.retraining.learning import with_window_checks

    aggregates = ctx.warehouse.window_aggregates(ctx.config, window.start, window.end)
    return with_window_checks(report, aggregates, ctx.config, profile)


def train(ctx: StepContext, extracted: Extracted) -> Trained:
    """Fit on the snapshot's training split and log everything to MLflow; reuse an identical run."""
    from include.retraining.learning import check_split, fit, split_by_time

    config, tracker = ctx.config, ctx.tracker
    experiment_id = tracker.ensure_experiment(config.name)
    identity = {tracking.SNAPSHOT_HASH_TAG: extracted.content_hash, tracking.CONFIG_HASH_TAG: config_hash(config)}
    existing = tracker.find_finished_run(experiment_id, identity)
    if existing:
        return Trained(existing, experiment_id, tracker.run_tags(existing)[tracking.MODEL_URI_TAG], reused=True)

    frame = read_snapshot(extracted.path)
    check_trainable(frame, config)
    split = split_by_time(frame, config)
    check_split(split, config)
    model = fit(config, split.train, threads=ctx.settings.fit_threads)
    train_until = split.train[config.source.timestamp_column].max()
    record = training_record(ctx, extracted, frame, identity, (len(split.train), len(split.holdout)), train_until)
    model_log = _model_log(config, model, split.train)
    with tempfile.TemporaryDirectory(prefix="retraining-reference-") as reference:
        write_reference(frame, config, Path(reference))
        logged = tracker.log_training_run(
            experiment_id, replace(record, artifacts={ARTIFACT_DIR: reference}), model_log
        )
    return Trained(logged.run_id, experiment_id, logged.model_uri, reused=False)


def _model_log(config: ModelConfig, model: Any, train: Any) -> tracking.ModelLog:
    """The fitted model as it is logged, refused before any run starts when its skops file would
    hold a type the model may not trust (the loaders would refuse it: logged, it could never serve)."""
    from include.retraining.config import ModelConfigError
    from include.retraining.learning import trusted_types

    trusted = trusted_types(config)
    untrusted = tracking.untrusted_types(model, trusted)
    if untrusted:
        raise ModelConfigError(
            f"model {config.name!r}: the trained model holds types the skops loader does not trust: {untrusted}. "
            "If you trust them (your own classes under include/, a library's you have reviewed), list them "
            "under training.trusted_types in the model file; nothing else loads"
        )
    # Numeric features as floats in the signature: an integer column cannot carry a missing
    # value, and serving-time nulls must be accepted (the pipeline imputes them).
    # (On the first 100 rows only: a cast of the whole training split is a copy of it, GBs at 10M rows.)
    signature = train.head(100)[config.features.columns].astype({c: "float64" for c in config.features.numeric})
    return tracking.ModelLog(model, signature, synthetic_example(train, config), trusted)


def evaluate(ctx: StepContext, extracted: Extracted, trained: Trained) -> tuple[Evaluated, Alert | None]:
    """Score challenger and champion on the same holdout; the gate's decision with its figures.

    An unusable champion (our code cannot load or score it) does not wedge the model: the challenger
    is compared with `previous_champion` if that one is usable, else judged on the gate threshold
    alone (reason `champion_unusable`; blocked when no threshold is set), and an alert names the
    champion and why. A transient error loading or scoring the champion fails the task (retried).
    A challenger too good to be true (`gate.leakage`: one feature alone nearly decides the holdout,
    or a holdout figure beyond its ceiling) is blocked with a reason naming the feature and the fix.
    """
    from include.retraining.learning import check_holdout, compute_metrics, predict_scores, split_by_time
    from include.retraining.promotion import current_evidence, judge, pooled_for, store_evidence

    config = ctx.config
    champion = ctx.registry.champion()
    decided = _already_decided(ctx, trained, champion)
    if decided is not None:
        return decided, None
    split = split_by_time(read_snapshot(extracted.path), config)
    holdout = split.holdout.dropna(subset=[config.target])
    y = holdout[config.target].to_numpy()
    check_holdout(config.name, config.task, y)
    challenger = ctx.tracker.load_model(trained.model_uri)
    challenger_scores = predict_scores(
        challenger, holdout[config.features.columns], config.task, ctx.settings.fit_threads
    )
    challenger_metrics = compute_metrics(config.task, y, challenger_scores)
    leakage = _leakage(config, split, holdout, challenger_metrics)
    baseline = baseline_for(ctx, champion, holdout)
    baseline_metrics = compute_metrics(config.task, y, baseline.scores) if baseline.scores is not None else None
    current, pooled = None, None
    if baseline.scores is not None:
        recipe = (str(baseline.version), config_hash(config))
        current = current_evidence(ctx, trained.run_id, recipe, holdout, (y, challenger_scores, baseline.scores))
        pooled = pooled_for(ctx, current, trained.experiment_id)
    decision = judge(
        config, y, challenger_scores, baseline.scores, challenger_metrics, baseline_metrics, pooled, leakage
    )
    decision = fail_closed(config, baseline, decision)
    evaluated = _evaluated(champion, baseline, decision, challenger_metrics, baseline_metrics)
    _log_evaluation(ctx, trained.run_id, (y, challenger_scores), evaluated)
    if current is not None:
        store_evidence(ctx, current)
    alert = champion_unusable_alert(ctx, evaluated) if baseline.unusable else None
    return evaluated, alert


def _leakage(config: ModelConfig, split: Any, holdout: Any, metrics: dict[str, float]) -> tuple[Any, dict[str, float]]:
    """What the leakage guard found (`gate.leakage`), and every feature's own holdout score."""
    from include.retraining.learning import feature_scores, leakage_suspects

    scores = feature_scores(config, split.train, holdout)
    return leakage_suspects(config, scores, metrics), scores


def _evaluated(
    champion: Champion | None,
    baseline: Baseline,
    decision: Any,
    challenger_metrics: dict[str, float],
    baseline_metrics: dict[str, float] | None,
) -> Evaluated:
    gate = decision.to_dict()
    return Evaluated(
        champion_version=champion.version if champion else None,
        promote=bool(gate["promote"]),
        reason=baseline.reason_prefix + str(gate["reason"]),
        metric=str(gate["metric"]),
        challenger_value=gate["challenger_value"],
        champion_value=gate["champion_value"],
        interval=gate["interval"],
        guardrails=gate.get("guardrails"),
        challenger_metrics=challenger_metrics,
        champion_metrics=baseline_metrics,
        compared_with=baseline.version,
        champion_unusable=baseline.unusable,
        pooled=gate.get("pooled"),
        leakage=gate.get("leakage") or None,
    )


def _already_decided(ctx: StepContext, trained: Trained, champion: Champion | None) -> Evaluated | None:
    """A rerun of a snapshot the gate already judged against this same champion decides nothing
    new: no second evaluation, no second alert."""
    if not trained.reused:
        return None
    version = ctx.registry.version_for_run(trained.run_id)
    if version is None:
        return None
    if champion is not None and champion.run_id == trained.run_id:
        reason = f"version {champion.version} trained on this exact snapshot is already champion"
    elif version.tags.get(DECISION_TAG) == "block" and version.tags.get(COMPARED_WITH_TAG) == (
        champion.version if champion else ""
    ):
        reason = f"version {version.version} from this exact snapshot was already blocked against this champion"
    else:
        return None
    return Evaluated(
        champion_version=champion.version if champion else None,
        promote=False,
        reason=reason,
        metric=ctx.config.primary_metric,
        already_decided=True,
    )


def _log_evaluation(ctx: StepContext, run_id: str, holdout: tuple[Any, Any], evaluated: Evaluated) -> None:
    from include.retraining.learning import evaluation_figure

    metrics = {f"holdout_{k}": v for k, v in (evaluated.challenger_metrics or {}).items()}
    metrics.update({f"champion_holdout_{k}": v for k, v in (evaluated.champion_metrics or {}).items()})
    if evaluated.interval:
        metrics.update(
            {
                "improvement": evaluated.interval["difference"],
                "improvement_lower": evaluated.interval["lower"],
                "improvement_upper": evaluated.interval["upper"],
            }
        )
    if evaluated.pooled:
        metrics.update(
            {"gate_pooled_rows": evaluated.pooled["rows"], "gate_pooled_windows": evaluated.pooled["windows"]}
        )
    tags = {
        tracking.GATE_TAG: "promote" if evaluated.promote else "block",
        tracking.GATE_REASON_TAG: evaluated.reason,
    }
    if ctx.config.task == "multiclass":
        tags[tracking.CLASSES_TAG] = json.dumps(list(holdout[1].columns))
    ctx.tracker.log_evaluation(run_id, metrics, tags, evaluation_figure(ctx.config.task, *holdout))


def promote(
    ctx: StepContext, extracted: Extracted, trained: Trained, evaluated: Evaluated, approval: Approval | None = None
) -> tuple[Promotion, Alert | None]:
    """The promote task: the gate's decision after a person's answer (`gate.approval: required`),
    applied by `promote_or_block`. A rejection or a timeout blocks and is logged as `reject`; an
    approval promotes with the approver as the actor of the log row."""
    from include.retraining.promotion import approver, gate_after, record_decline

    gate = gate_after(ctx.config, evaluated, approval)
    promotion, alert = promote_or_block(ctx, extracted, trained, gate, approved_by=approver(approval))
    if approval is not None and approval.declined and promotion.version is not None:
        record_decline(ctx, evaluated, promotion.version, approval)
    return promotion, alert


def promote_or_block(
    ctx: StepContext, extracted: Extracted, trained: Trained, evaluated: Evaluated, approved_by: str | None = None
) -> tuple[Promotion, Alert | None]:
    """Apply the gate's decision to the registry; the alert to send when it blocked.

    Compare-and-set under the model's promotion lock: `champion` moves only if it is still the
    version that was evaluated, and never to a model trained on an older window than its own; its
    promotion log row is written first, and a move the log recorded but the registry lost is
    completed first (outcome `repaired` when this run then does not promote).
    """
    if evaluated.already_decided:
        return Promotion(PromotionOutcome.UNCHANGED, evaluated.champion_version, evaluated.reason), None
    if ctx.run.dry_run:
        outcome = PromotionOutcome.DRY_RUN_PROMOTE if evaluated.promote else PromotionOutcome.DRY_RUN_BLOCK
        return Promotion(outcome, None, evaluated.reason), None
    from include.retraining.promotion import apply_decision, decision_tags

    registry = ctx.registry
    version = registry.register_version(trained.model_uri, trained.run_id, _version_tags(ctx, extracted))
    tags = decision_tags(ctx, evaluated, "promote", evaluated.reason)
    applied = apply_decision(ctx, evaluated, version, extracted.window.end, tags, approved_by)
    if applied.promotion is not None:
        return applied.promotion, None
    if applied.canary:  # serving.canary: the monitor promotes or ends it on matured labels
        return Promotion(PromotionOutcome.CANARY, version, f"on canary: {evaluated.reason}"), None
    reason = evaluated.reason if applied.refused is None else f"promotion refused: {applied.refused}"
    if applied.repaired:
        reason = f"{applied.reconciled.message}; this challenger: {reason}"
    registry.mark_challenger(version, decision_tags(ctx, evaluated, "block", reason))
    outcome = PromotionOutcome.REPAIRED if applied.repaired else PromotionOutcome.BLOCKED
    return Promotion(outcome, version, reason), _blocked_alert(ctx, trained, evaluated, reason)


def _version_tags(ctx: StepContext, extracted: Extracted) -> dict[str, str]:
    return {
        tracking.SNAPSHOT_HASH_TAG: extracted.content_hash,
        tracking.WINDOW_END_TAG: extracted.window.end.isoformat(),
        tracking.RUN_ID_TAG: ctx.run.run_id,
        tracking.TRIGGER_TAG: ctx.run.trigger[: tracking.MAX_TAG_CHARS],
    }


def _blocked_alert(ctx: StepContext, trained: Trained, evaluated: Evaluated, reason: str) -> Alert:
    links = {
        "Airflow run": ctx.run_url,
        "MLflow run": ctx.tracker.run_link(trained.experiment_id, trained.run_id),
    }
    return gate_blocked_alert(
        ctx.config.name, reason, evaluated.figures(), links, dedup_key=f"{ctx.run.dedup_prefix}/gate"
    )
