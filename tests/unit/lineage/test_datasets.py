"""Dataset names as OpenLineage's naming spec gives them, and never a credential."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.lineage import file_dataset, model_dataset, profile_facet, table_dataset
from include.retraining.reference import DataProfile
from include.retraining.reference.profile import ColumnProfile
from include.retraining.warehouse import Database

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "table", "namespace", "name"),
    [
        ("postgresql+psycopg2://u:secret@db.internal/warehouse", "customer_snapshots", "postgres://db.internal:5432",
         "warehouse.public.customer_snapshots"),
        ("postgresql://u@db:6432/warehouse", "sales.orders", "postgres://db:6432", "warehouse.sales.orders"),
        ("mysql+pymysql://root:pw@127.0.0.1:3306/shop", "orders", "mysql://127.0.0.1:3306", "shop.orders"),
        ("mariadb+pymysql://root@maria/shop", "orders", "mysql://maria:3306", "shop.orders"),
    ],
)  # fmt: skip
def test_a_server_table_is_named_by_host_port_database_and_schema(url, table, namespace, name) -> None:
    dataset = table_dataset(Database(url), table, ["id", "at"])

    assert (dataset.namespace, dataset.name, dataset.fields) == (namespace, name, ("id", "at"))
    assert "secret" not in dataset.namespace + dataset.name and "pw" not in dataset.namespace


def test_a_database_file_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    dataset = table_dataset(Database(f"sqlite:///{tmp_path / 'wh.db'}"), "customer_snapshots")

    assert (dataset.namespace, dataset.name) == (f"sqlite://{tmp_path / 'wh.db'}", "customer_snapshots")


def test_files_are_named_by_path_and_object_store_keys_by_bucket(tmp_path: Path) -> None:
    assert file_dataset(tmp_path / "a.parquet").namespace == "file"
    assert file_dataset(f"file://{tmp_path}/a.parquet").name == str(tmp_path / "a.parquet")
    s3 = file_dataset("s3://artifacts/churn/snapshots/w1/abc.parquet")
    assert (s3.namespace, s3.name) == ("s3://artifacts", "churn/snapshots/w1/abc.parquet")


@pytest.mark.parametrize(
    ("tracking_uri", "store"),
    [
        ("https://admin:secret@mlflow.example.com:5000", "mlflow://mlflow.example.com:5000"),
        ("postgresql://mlflow:secret@pg:5432/mlflow", "mlflow://postgresql://pg:5432/mlflow"),
        ("sqlite:////data/mlflow.db", "mlflow://sqlite:////data/mlflow.db"),
    ],
)
def test_mlflow_models_are_named_by_store_without_credentials(tracking_uri: str, store: str) -> None:
    version = model_dataset(tracking_uri, "churn", version="3")
    logged = model_dataset(tracking_uri, "churn", run_id="abc")

    assert (version.namespace, version.name) == (store, "churn/versions/3")
    assert (logged.namespace, logged.name) == (store, "runs/abc/model")
    assert "secret" not in version.namespace


def test_the_profile_facet_keeps_types_null_shares_and_quantiles_not_categories() -> None:
    columns = {
        "tenure": ColumnProfile("float64", 0.1, quantiles={"0.5": 12.0}, histogram={"edges": [0.0, 1.0]}),
        "plan": ColumnProfile("object", 0.0, categories={"a": 3}),
    }
    facet = profile_facet(DataProfile(rows=100, seed=1, sample_rows=50, columns=columns))

    payload = facet["retrainingReferenceProfile"]
    assert payload["rows"] == 100 and payload["sample_rows"] == 50
    assert payload["columns"]["tenure"] == {"type": "float64", "null_share": 0.1, "quantiles": {"0.5": 12.0}}
    assert "categories" not in payload["columns"]["plan"]
