"""The `retention:` section: how much of a model's history stays on the artifact root."""

from __future__ import annotations

from pydantic import Field

from include.retraining.config.base import Strict


class RetentionConfig(Strict):
    # Besides these, the champion's and previous champion's snapshots are always kept, and any
    # snapshot younger than retention.SNAPSHOT_MIN_AGE (a run in progress still reads it).
    snapshots: int = Field(8, ge=1, description="training snapshots kept per model, newest windows first")
