"""Housekeeping after a retrain's decision: the artifact root keeps the snapshots of the newest
`retention.snapshots` windows (and the champions'), and the reports and GX results of the newest
`retention.reports` windows. Called by the promote task; a failure never undoes a decision."""

from __future__ import annotations

import time
from os import PathLike

from include.retraining import tracking
from include.retraining.runs import StepContext


def prune_snapshots(ctx: StepContext, current: str, now: float | None = None) -> list[PathLike[str]]:
    """Housekeeping after the decision: delete the snapshots, and the monitoring runs' row copies,
    of all but the newest `retention.snapshots` windows, never this run's snapshot or the
    champion's and previous champion's; the deleted paths (none on a dry run). An error reading
    what is protected propagates, and nothing is deleted."""
    from include.retraining.artifacts import prune_snapshots as prune

    if ctx.run.dry_run:
        return []
    protected: set[str | PathLike[str]] = {current}
    for alias in (ctx.registry.champion(), ctx.registry.previous_champion()):
        path = ctx.tracker.run_tags(alias.run_id).get(tracking.SNAPSHOT_PATH_TAG) if alias is not None else None
        if path:
            protected.add(path)
    keep = ctx.config.retention.snapshots
    return prune(ctx.settings.artifact_root, ctx.config.name, keep, protected, time.time() if now is None else now)


def prune_reports(ctx: StepContext, now: float | None = None) -> list[PathLike[str]]:
    """Housekeeping after the decision: delete the monitoring reports and validation results of
    all but the newest `retention.reports` windows of each kind; the deleted folders (none on a
    dry run). Nothing here is protected by the registry, so it runs when the registry is down."""
    from include.retraining.artifacts import prune_reports as prune

    if ctx.run.dry_run:
        return []
    now = time.time() if now is None else now
    return prune(ctx.settings.artifact_root, ctx.config.name, ctx.config.retention.reports, now)
