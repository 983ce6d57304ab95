"""What a run read and wrote, named for lineage (OpenLineage's dataset naming): the source table,
the training snapshot, the MLflow model and registered version, the predictions table. Plain
data: the orchestration layer hands it to Airflow's OpenLineage provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.lineage.datasets import (
        LineageDataset,
        file_dataset,
        model_dataset,
        profile_facet,
        table_dataset,
    )

__all__, __getattr__, __dir__ = face(__name__)
