"""The checks: each takes what it checks (a folder of model files, a config and its `Warehouse`, the
settings) and returns findings; none raises for what it finds. Nothing here writes: the source
is opened read-only, and an embedded MLflow store that does not exist yet is not created."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from include.retraining.common import Settings, training_window
from include.retraining.config import ModelConfig, ModelConfigError, load_model_config, load_model_configs
from include.retraining.preflight.findings import Finding, Status
from include.retraining.tables import schema_head, schema_revision
from include.retraining.warehouse import Database, Warehouse, WarehouseError

# The pipeline's own tables, in its database (`retraining_db`, else the source's; `{model}` is its name).
PIPELINE_TABLES = ("model_promotions", "model_monitoring", "{model}_predictions")


def model_file_findings(models_dir: Path, files: list[Path] | None = None) -> tuple[list[ModelConfig], list[Finding]]:
    """The models that load and a finding per file: `files`, or every model file in `models_dir`
    (two files for one model included, as the DAG files see them)."""
    if files:
        configs, errors = [], {}
        for path in files:
            try:
                configs.append(load_model_config(path))
            except ModelConfigError as exc:
                errors[path] = exc
    else:
        configs, errors = load_model_configs(models_dir)
    findings = [Finding(c.name, "model file", Status.OK, "loads") for c in configs]
    findings += [Finding(path.name, "model file", Status.PROBLEM, str(error)) for path, error in errors.items()]
    return configs, findings


def dag_findings(config: ModelConfig) -> list[Finding]:
    """The DAGs the file makes and when each runs (times are UTC)."""
    name = config.name
    dags = [
        f"retrain_{name} ({config.schedule}, and on asset {name}_drift)",
        f"monitor_{name} ({config.monitor.schedule})",
        f"rollback_{name} (manual)",
    ]
    if config.scoring is not None:
        dags.append(f"score_{name} ({config.scoring.schedule}, and on asset {name}_champion)")
    return [Finding(name, "dags", Status.OK, "; ".join(dags))]


def model_code_findings(config: ModelConfig) -> list[Finding]:
    """The model file's own code (a dotted-path `training.estimator`, `features.steps`) imported and
    built as the `train` task will; nothing for a file that names none (no network: offline too)."""
    from include.retraining.config import BUILTIN_ESTIMATORS
    from include.retraining.learning import build_pipeline

    if config.training.estimator in BUILTIN_ESTIMATORS and not config.features.steps:
        return []
    try:
        pipeline = build_pipeline(config)
    except ModelConfigError as exc:
        return [Finding(config.name, "model code", Status.PROBLEM, str(exc))]
    built = " -> ".join(type(step).__name__ for _, step in pipeline.steps)
    return [Finding(config.name, "model code", Status.OK, f"imports and builds {built}")]


def source_findings(
    config: ModelConfig, warehouse: Warehouse, window_end: datetime, pipeline_db: Database | None = None
) -> list[Finding]:
    """The model's source as the runs will read it: every column there, the timestamps usable, the
    latest training window with enough rows, an index for the window reads, and the rights the
    pipeline's own tables need, in `pipeline_db` (None: in the source's database). Stops at the
    first finding the others depend on."""
    name, source = config.name, config.source
    where = f"table {source.table!r}" if source.table else "the `source.query`"
    needed = [c for c in (source.id_column, source.timestamp_column, config.target) if c]
    needed += config.features.columns
    try:
        present = warehouse.source_columns(source, model=name)
    except WarehouseError as exc:
        return [Finding(name, "source", Status.PROBLEM, f"{warehouse.display}: {exc}")]
    missing = [c for c in needed if c not in present]
    if missing:
        fix = "add them to the source, or fix `features`/`target`/`source` in the model file"
        return [Finding(name, "source", Status.PROBLEM, f"{where} has no column(s) {missing}: {fix}")]
    findings = [Finding(name, "source", Status.OK, f"{where} in {warehouse.display} has all {len(needed)} columns")]
    try:
        counted = warehouse.check_timestamps(config)
    except WarehouseError as exc:
        return [*findings, Finding(name, "timestamps", Status.PROBLEM, str(exc))]
    findings.append(
        Finding(name, "timestamps", Status.OK, f"{counted.rows:,} rows, {counted.undated:,} without a usable time")
    )
    findings.append(_window_rows(config, warehouse, window_end))
    if source.id_column:
        findings.append(_unique_keys(config, warehouse, window_end))
    if source.table:
        findings.append(_index(config, warehouse))
    if pipeline_db is not None and not pipeline_db.same_database(warehouse):
        findings += _apart(config, warehouse, pipeline_db)
    elif warehouse.is_postgres:
        findings.append(_rights(config, warehouse))
    return findings


def _window_rows(config: ModelConfig, warehouse: Warehouse, window_end: datetime) -> Finding:
    training = config.training
    window = training_window(window_end, training.window_days, training.label_delay_days)
    rows = warehouse.window_rows(config, window.start, window.end)
    span = f"the training window ({window.start:%Y-%m-%d %H:%M}, {window.end:%Y-%m-%d %H:%M}] UTC"
    if rows < training.min_rows:
        fix = "check that the upstream load ran, or widen training.window_days / lower training.min_rows"
        return Finding(config.name, "rows", Status.PROBLEM, f"{span} holds {rows:,} rows, below min_rows "
                       f"{training.min_rows:,}: a retrain now would stop at extract; {fix}")  # fmt: skip
    return Finding(config.name, "rows", Status.OK, f"{span} holds {rows:,} rows (min_rows {training.min_rows:,})")


def _unique_keys(config: ModelConfig, warehouse: Warehouse, window_end: datetime) -> Finding:
    """One row per (id, timestamp): scoring writes one prediction per pair, and a repeated pair
    would have its label counted twice or left as a conflict."""
    training, source = config.training, config.source
    window = training_window(window_end, training.window_days, training.label_delay_days)
    repeated = warehouse.repeated_keys(config, window.start, window.end)
    pair = f"({source.id_column}, {source.timestamp_column})"
    if repeated:
        return Finding(config.name, "keys", Status.PROBLEM, f"{repeated:,} {pair} pair(s) occur more than once in the "
                       "training window: a row per id and time is what scoring and the label joins expect; remove the "
                       "repeats upstream, or fix source.id_column")  # fmt: skip
    return Finding(config.name, "keys", Status.OK, f"{pair} is unique in the training window")


def _index(config: ModelConfig, warehouse: Warehouse) -> Finding:
    table, column = str(config.source.table), config.source.timestamp_column
    if warehouse.is_duckdb:
        # DuckDB skips row groups by their min/max (zone maps); its ART indexes serve point lookups only.
        return Finding(config.name, "index", Status.OK, f"DuckDB prunes the window reads on {column!r} by "
                       "row-group min/max, no index needed (they work best on a table loaded in time order)")  # fmt: skip
    leading = warehouse.index_leading_with(table, column)
    if leading:
        return Finding(config.name, "index", Status.OK, f"index {leading} serves the window reads on {column!r}")
    index = warehouse.quote(f"{table.rpartition('.')[2]}_{column}_idx")  # named: SQLite requires a name
    create = f"CREATE INDEX {index} ON {warehouse.quote(table)} ({warehouse.quote(column)})"
    return Finding(
        config.name,
        "index",
        Status.WARNING,
        f"no index of {table!r} starts with {column!r}: every window read scans the whole table; create one: {create}",
    )


def _rights(config: ModelConfig, warehouse: Warehouse) -> Finding:
    tables = _tables(config)
    user, schema, can_create = warehouse.create_rights()
    if can_create:
        return Finding(config.name, "rights", Status.OK, f"role {user} may create the pipeline's tables ({tables}) "
                       f"in schema {schema}")  # fmt: skip
    return Finding(
        config.name,
        "rights",
        Status.PROBLEM,
        f"role {user} can read the source but not create tables in schema {schema}; without the Airflow "
        f"connection retraining_db the pipeline keeps its own tables ({tables}) in this database: define "
        f"retraining_db (a database the pipeline may write) and keep the source read-only, or "
        f"GRANT CREATE ON SCHEMA {schema} TO {user}",
    )


def _apart(config: ModelConfig, warehouse: Warehouse, pipeline_db: Database) -> list[Finding]:
    """The source only read, the pipeline's tables in a database of their own: may they be made there?"""
    who = "the connection"
    how = "reads the source"
    if warehouse.is_postgres:
        who, _, can_create = warehouse.create_rights()
        who, how = f"role {who}", "may write the source too" if can_create else "may only read the source, all it needs"
    read_only = f"{who} {how}: the pipeline writes nothing there (its tables are in {pipeline_db.display})"
    return [Finding(config.name, "rights", Status.OK, read_only), _pipeline_rights(config, pipeline_db)]


def _pipeline_rights(config: ModelConfig, pipeline_db: Database) -> Finding:
    where, tables = f"pipeline database {pipeline_db.display}", _tables(config)
    try:
        if pipeline_db.is_postgres:
            user, schema, can_create = pipeline_db.create_rights()
            if not can_create:
                fix = f"GRANT CREATE ON SCHEMA {schema} TO {user}"
                message = f"{where}: role {user} may not create the pipeline's tables ({tables}): {fix}"
                return Finding(config.name, "pipeline", Status.PROBLEM, message)
        revision = schema_revision(pipeline_db)  # reachable; a SQLite file is made by the first run
    except Exception as exc:  # noqa: BLE001 - any failure to answer is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finding(config.name, "pipeline", Status.PROBLEM, f"{where} does not answer: {first}")
    latest = schema_head()
    schema = (
        f"schema at revision {latest}"
        if revision == latest
        else f"schema at revision {revision or 'none'}, the next run upgrades it to {latest}"
    )
    return Finding(config.name, "pipeline", Status.OK, f"{where} takes the pipeline's tables ({tables}); {schema}")


def _tables(config: ModelConfig) -> str:
    return ", ".join(t.format(model=config.name) for t in PIPELINE_TABLES)


def tracking_findings(settings: Settings, tracker: Any) -> list[Finding]:
    """The MLflow store answers (`tracker`: a `tracking.Tracker`); an embedded store that does
    not exist yet is fine, the first run creates it."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return [Finding("mlflow", "tracking", Status.OK, f"embedded store {uri}: created by the first run")]
    try:
        tracker.client.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any failure to answer is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = "start it, or set MLFLOW_TRACKING_URI (and its credentials) to the server the pipeline should use"
        return [Finding("mlflow", "tracking", Status.PROBLEM, f"{uri} does not answer ({first}): {fix}")]
    return [Finding("mlflow", "tracking", Status.OK, f"{uri} answers")]


def artifact_store_findings(settings: Settings) -> list[Finding]:
    """The artifact root takes a write, a read and a delete (of a probe file); a local folder not
    created yet is fine when its parent may be written (the first run creates it)."""
    from include.retraining.artifacts import artifact_path, is_local, remove, write_text

    root = settings.artifact_root
    if is_local(root) and not Path(root).exists():
        parent = next(p for p in Path(root).parents if p.exists())
        if parent.is_dir() and os.access(parent, os.W_OK):
            return [Finding("artifacts", "artifact store", Status.OK, f"{root}: created by the first run")]
        fix = "create it, writable by the workers, or set RETRAINING_ARTIFACT_ROOT to a folder or URL they may write"
        return [Finding("artifacts", "artifact store", Status.PROBLEM, f"{root} cannot be created in {parent}: {fix}")]
    probe = artifact_path(root) / f".preflight-{uuid.uuid4().hex}"
    try:
        write_text(probe, "probe")
        probe.read_text(encoding="utf-8")
        remove(probe)
    except Exception as exc:  # noqa: BLE001 - any refusal is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = (
            "create the folder or bucket and let the workers and the api-server list, get, put and delete in it; "
            "for s3:// the credentials come from the host's role or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_DEFAULT_REGION and, for an S3-compatible server, AWS_ENDPOINT_URL"
        )
        return [Finding("artifacts", "artifact store", Status.PROBLEM, f"{root} refused a test write ({first}): {fix}")]
    return [Finding("artifacts", "artifact store", Status.OK, f"{root} takes writes, reads and deletes")]
