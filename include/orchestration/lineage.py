"""OpenLineage for the pipeline's tasks, through Airflow's own provider: each task names what it
read and wrote (`include.retraining.lineage`), and this module puts those datasets on the running
task's inlets and outlets, which the provider's listener reports in the task's COMPLETE event
(its "manual annotations"; a TaskFlow task has no extractor of its own).

Off unless OpenLineage is configured (`AIRFLOW__OPENLINEAGE__TRANSPORT` or an `openlineage.yml`):
then nothing here runs, not even the profile read. Lineage never fails a task: an error is a
warning in the task log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from include.retraining.config import ModelConfig
from include.retraining.lineage import LineageDataset, file_dataset, model_dataset, profile_facet, table_dataset
from include.retraining.runs import StepContext
from include.retraining.warehouse import Database

log = logging.getLogger(__name__)


def enabled() -> bool:
    """Whether the OpenLineage provider is installed and configured to emit."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return False
    return not is_disabled()


def report(datasets: Callable[[], tuple[Sequence[LineageDataset], Sequence[LineageDataset]]]) -> None:
    """Add the (inputs, outputs) that `datasets` names to the running task's inlets and outlets.
    Called lazily: naming may read (a profile), and only when lineage is on."""
    if not enabled():
        return
    try:
        from airflow.sdk import get_current_context

        inputs, outputs = datasets()
        task = get_current_context()["task"]
        task.inlets.extend(_openlineage(d) for d in inputs)
        task.outlets.extend(_openlineage(d) for d in outputs)
    except Exception as exc:  # noqa: BLE001 - lineage is reported, never required
        log.warning("OpenLineage datasets not reported: %r", exc)


def _openlineage(dataset: LineageDataset) -> Any:
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import DatasetFacet, schema_dataset

    facets: dict[str, Any] = {
        name: DatasetFacet().with_additional_properties(**payload) for name, payload in dataset.facets.items()
    }
    if dataset.fields:
        fields = [schema_dataset.SchemaDatasetFacetFields(name=name) for name in dataset.fields]
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=fields)
    return Dataset(namespace=dataset.namespace, name=dataset.name, facets=facets)


def source_table(
    config: ModelConfig, db: Database | None, table: str | None, *, labelled: bool = True
) -> list[LineageDataset]:
    """The table a model's rows are read from (with the target, or only what scoring reads);
    none for a `query:` source (no single table)."""
    if db is None or not table:
        return []
    target = [config.target] if labelled else []
    columns = [config.source.timestamp_column, config.source.id_column, *target, *config.features.columns]
    return [table_dataset(db, table, [c for c in dict.fromkeys(columns) if c])]


def snapshot(path: str) -> LineageDataset:
    return file_dataset(path)


def logged_model(ctx: StepContext, run_id: str) -> LineageDataset:
    return model_dataset(ctx.settings.tracking_uri, ctx.config.name, run_id=run_id)


def registered_version(ctx: StepContext, version: str, run_id: str) -> LineageDataset:
    """The version with the reference profile the monitor will compare windows with."""
    from include.retraining.reference import champion_profile

    profile = champion_profile(ctx, version, run_id)
    facets = profile_facet(profile) if profile is not None else {}
    return model_dataset(ctx.settings.tracking_uri, ctx.config.name, version=version, facets=facets)


def model_version(ctx: StepContext, version: str) -> LineageDataset:
    return model_dataset(ctx.settings.tracking_uri, ctx.config.name, version=version)


def predictions_table(ctx: StepContext, table: str) -> LineageDataset:
    return table_dataset(ctx.pipeline_db or ctx.warehouse, table)  # type: ignore[arg-type]
