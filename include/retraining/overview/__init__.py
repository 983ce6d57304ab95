"""What the Models page shows for each model, gathered from where each fact lives (the registry,
the promotion log, `model_monitoring`, the artifact root); a source that cannot be read is shown
as an error on the row, never as "nothing there". The same rows, as Prometheus metrics
(`exposition`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.overview.metrics import CONTENT_TYPE, exposition
    from include.retraining.overview.models import REGISTRY_ERROR, MetricPoint, ModelOverview, overview

__all__, __getattr__, __dir__ = face(__name__)
