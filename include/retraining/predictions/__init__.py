"""The predictions tables (`<model>_predictions`, or `scoring.output_table`): what `score_<model>`
and the REST server's inference log served, one row per scored source row per alias, an interval
replaced whole and what it replaced kept (`superseded_at`); and the reads that bring those rows
back beside the labels that arrived, for the monitor's performance, shadow and verification."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.predictions.served import (
        LABEL,
        LABEL_CONFLICT,
        SERVED_COLUMNS,
        read_served,
        read_served_with_labels,
    )
    from include.retraining.predictions.table import (
        ANSWERED,
        CLASS_COLUMNS,
        PREDICTED_CLASS,
        PROBABILITIES,
        probabilities_frame,
        replace_interval,
        score_columns,
    )
    from include.retraining.predictions.table import ARROW_SCHEMA as PREDICTION_ARROW_SCHEMA
    from include.retraining.predictions.table import COLUMNS as PREDICTION_COLUMNS
    from include.retraining.predictions.table import REST as REST_SOURCE
    from include.retraining.predictions.table import ensure_table as ensure_predictions_table
    from include.retraining.predictions.table import grant_append as grant_predictions_append
    from include.retraining.predictions.table import prune_before as prune_predictions_before
    from include.retraining.predictions.table import table_definition as predictions_definition

__all__, __getattr__, __dir__ = face(__name__)
