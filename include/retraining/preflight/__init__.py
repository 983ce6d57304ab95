"""Checks of a model before it is deployed (`python -m retraining check`): its file, the DAGs it
will make, the model code it names, its source in the warehouse and the MLflow store, each a
`Finding` that names the model, what was checked and, for a problem, the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.preflight.checks import (
        artifact_store_findings,
        dag_findings,
        model_code_findings,
        model_file_findings,
        source_findings,
        tracking_findings,
    )
    from include.retraining.preflight.findings import Finding, Status, render_json, render_text

__all__, __getattr__, __dir__ = face(__name__)
