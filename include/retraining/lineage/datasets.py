"""Datasets named as OpenLineage's naming spec names them (openlineage.io/docs/spec/naming), so
a catalog (Marquez, DataHub, OpenMetadata) joins them with what other jobs report of the same
tables and files:
- PostgreSQL: `postgres://host:port`, `database.schema.table`; MySQL/MariaDB: `mysql://host:port`,
  `database.table`; a database file (SQLite, DuckDB): `<backend>://<absolute file>`, `table`;
- a local file: `file`, its absolute path; an object store URL: `<scheme>://<bucket>`, its key;
- MLflow (the spec has no entry): `mlflow://<tracking server or store>`, `<model>/versions/<n>`
  for a registered version, `runs/<run id>/<artifact path>` for a run's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from include.retraining.reference import DataProfile
from include.retraining.warehouse import Database

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
SCHEMES = {"postgresql": "postgres", "mariadb": "mysql"}


@dataclass(frozen=True)
class LineageDataset:
    """One dataset: its namespace and name, the columns read or written (a schema facet), and
    further facets by name, each a plain JSON object."""

    namespace: str
    name: str
    fields: tuple[str, ...] = ()
    facets: dict[str, dict[str, Any]] = field(default_factory=dict)


def table_dataset(db: Database, table: str, fields: Sequence[str] = ()) -> LineageDataset:
    """A table (`table` or `schema.table`) of a database."""
    host, port, database = db.address
    backend = db.backend
    if db.database_file:
        namespace = f"{backend}://{Path(db.database_file).resolve()}"
        return LineageDataset(namespace, table, tuple(fields))
    scheme = SCHEMES.get(backend, backend)
    namespace = f"{scheme}://{host or 'localhost'}:{port or DEFAULT_PORTS.get(backend, 0)}"
    if db.is_postgres and "." not in table:
        table = f"public.{table}"
    name = f"{database}.{table}" if database else table
    return LineageDataset(namespace, name, tuple(fields))


def file_dataset(location: str | Path) -> LineageDataset:
    """A file on local disk (a path or file:// URL) or in an object store (`s3://bucket/key`, ...)."""
    text = str(location)
    parts = urlsplit(text)
    if parts.scheme in ("", "file"):
        return LineageDataset("file", str(Path(parts.path if parts.scheme else text).resolve()))
    return LineageDataset(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))


def model_dataset(
    tracking_uri: str,
    model: str,
    *,
    version: str | None = None,
    run_id: str | None = None,
    facets: dict[str, dict[str, Any]] | None = None,
) -> LineageDataset:
    """A registered model version, or (without a version) the model logged in a run."""
    parts = urlsplit(tracking_uri)
    # Never the credentials a URI may hold (`https://user:pass@...`, `postgresql://user:pass@...`).
    port = f":{parts.port}" if parts.port else ""
    store = (
        f"{parts.hostname}{port}"
        if parts.scheme in ("http", "https")
        else f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
    )
    name = f"{model}/versions/{version}" if version is not None else f"runs/{run_id}/model"
    return LineageDataset(f"mlflow://{store}", name, facets=dict(facets or {}))


def profile_facet(profile: DataProfile) -> dict[str, dict[str, Any]]:
    """The champion's reference profile (what the monitor compares windows with), as facet
    `retrainingReferenceProfile`: rows, sample size and each column's type, null share and
    quantiles (categories and histograms stay in MLflow: they can be large)."""
    columns = {
        name: {"type": column.dtype, "null_share": column.null_share, "quantiles": column.quantiles}
        for name, column in profile.columns.items()
    }
    return {
        "retrainingReferenceProfile": {"rows": profile.rows, "sample_rows": profile.sample_rows, "columns": columns}
    }
