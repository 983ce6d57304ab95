"""The UI plugin without a server: link URLs, which task gets which link, and the artifact
endpoint's file rules (root, traversal, suffixes, access) through FastAPI's test client."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from include.retraining.common import training_window
from include.retraining.drift import MonitorOutcome
from include.retraining.monitor import Reported
from include.retraining.retrain import Extracted, Trained, Validated
from tests.support import REPO

pytestmark = pytest.mark.unit

PLUGIN_FILE = REPO / "plugins" / "retraining_links.py"
BASE = "http://airflow.example:8080"


def _load_plugin(name: str = "retraining_links") -> ModuleType:
    """As Airflow does: a top-level module from the plugins folder."""
    spec = importlib.util.spec_from_file_location(name, PLUGIN_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


links = _load_plugin()


def _key(dag_id: str, task_id: str) -> SimpleNamespace:
    return SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id="manual__1", map_index=-1, try_number=1)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    artifacts = tmp_path / "artifacts"
    (artifacts / "churn" / "monitoring" / "w").mkdir(parents=True)
    monkeypatch.setenv("RETRAINING_ARTIFACT_ROOT", str(artifacts))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE)
    monkeypatch.delenv("RETRAINING_SERVE_ARTIFACTS", raising=False)
    monkeypatch.delenv("RETRAINING_MLFLOW_UI_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return artifacts.resolve()


def _trained(run_id: str, experiment_id: str) -> dict:
    return Trained(run_id, experiment_id, f"runs:/{run_id}/model", reused=False).to_xcom()


def _validated(html: Path) -> dict:
    return Validated(success=True, evaluated=12, html_path=str(html)).to_xcom()


@pytest.fixture
def xcoms(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """Return values by task id, in place of the metadata database; tests fill it with what the
    tasks return (their contracts' `to_xcom()`), so the plugin reads the keys the tasks write."""
    values: dict[str, dict] = {}
    monkeypatch.setattr(links, "_return_value", lambda ti_key, task_id: values.get(task_id))
    return values


# URL building
@pytest.mark.parametrize(
    ("tracking_uri", "experiment_id", "ui_url", "expected"),
    [
        ("http://mlflow:5000", "3", None, "http://mlflow:5000/#/experiments/3/runs/abc"),
        ("https://mlflow.example.com/", "3", None, "https://mlflow.example.com/#/experiments/3/runs/abc"),
        ("sqlite:////data/mlflow.db", "1", None, "http://localhost:5000/#/experiments/1/runs/abc"),
        ("file:///data/mlruns", "1", None, "http://localhost:5000/#/experiments/1/runs/abc"),
        (
            "sqlite:////data/mlflow.db",
            "1",
            "http://mlflow.local:5001/",
            "http://mlflow.local:5001/#/experiments/1/runs/abc",
        ),
        ("http://mlflow:5000", "3", "http://localhost:5000", "http://localhost:5000/#/experiments/3/runs/abc"),
        ("http://mlflow:5000", None, None, "http://mlflow:5000/#/runs/abc"),
    ],
)
def test_mlflow_run_url(tracking_uri, experiment_id, ui_url, expected) -> None:
    assert links.mlflow_run_url(tracking_uri, "abc", experiment_id, ui_url) == expected


def test_mlflow_run_url_without_a_run_is_no_link() -> None:
    assert links.mlflow_run_url("http://mlflow:5000", None, "3") == ""


def test_artifact_url_of_a_file_under_the_root(root: Path) -> None:
    path = root / "churn" / "validation" / "2026 w1" / "gx_result.html"

    assert links.artifact_url(str(path), root, BASE + "/") == (
        f"{BASE}/retraining-artifacts/churn/validation/2026%20w1/gx_result.html"
    )


@pytest.mark.parametrize(
    "candidate",
    [
        "../outside.html",
        "churn/../../outside.html",
        "/etc/passwd.html",
        "churn/snapshot.parquet",
        "churn/report.html.txt",
        "",
        ".",
    ],
)
def test_servable_path_refuses_anything_outside_the_root_or_the_allowed_suffixes(root: Path, candidate: str) -> None:
    assert links.servable_path(root, candidate) is None
    assert links.artifact_url(candidate, root, BASE) == ""


@pytest.mark.parametrize("name", ["r.html", "r.json", "r.png", "R.HTML"])
def test_servable_path_allows_html_json_png(root: Path, name: str) -> None:
    assert links.servable_path(root, f"churn/{name}") == root / "churn" / name


def test_servable_path_refuses_a_symlink_that_leaves_the_root(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.html"
    secret.write_text("secret")
    (root / "churn" / "escape.html").symlink_to(secret)

    assert links.servable_path(root, "churn/escape.html") is None


def test_failed_validation_path_is_where_validate_writes(root: Path) -> None:
    window = training_window(datetime(2026, 3, 16, tzinfo=UTC), 56, 14)

    path = links.failed_validation_html(root, "churn", window.to_dict())

    assert path == root / "churn" / "validation" / window.label / "gx_result.html"


# Which task gets which link
def test_train_and_evaluate_link_the_mlflow_run_of_train(root: Path, xcoms: dict, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    xcoms["train"] = _trained("r1", "7")

    for task_id in ("train", "evaluate"):
        url = links.MlflowRunLink().get_link(None, ti_key=_key("retrain_churn", task_id))
        assert url == "http://mlflow:5000/#/experiments/7/runs/r1"


def test_mlflow_link_on_the_local_store_opens_the_configured_ui(root: Path, xcoms: dict, monkeypatch) -> None:
    monkeypatch.setenv("RETRAINING_MLFLOW_UI_URL", "http://127.0.0.1:5005")
    xcoms["train"] = _trained("r1", "7")

    url = links.MlflowRunLink().get_link(None, ti_key=_key("retrain_churn", "train"))

    assert url == "http://127.0.0.1:5005/#/experiments/7/runs/r1"


def test_monitoring_report_links_its_mlflow_run_and_the_evidently_report(root: Path, xcoms: dict) -> None:
    report = root / "churn" / "monitoring" / "w" / "drift_report.html"
    xcoms["report"] = Reported("m1", str(report), MonitorOutcome.NONE).to_xcom()
    xcoms["data_drift"] = {"report_html": str(report)}
    expected_report = f"{BASE}/retraining-artifacts/churn/monitoring/w/drift_report.html"

    assert links.MlflowRunLink().get_link(None, ti_key=_key("monitor_churn", "report")).endswith("/#/runs/m1")
    assert links.EvidentlyReportLink().get_link(None, ti_key=_key("monitor_churn", "report")) == expected_report
    assert links.EvidentlyReportLink().get_link(None, ti_key=_key("monitor_churn", "data_drift")) == expected_report


def test_validate_links_the_gx_result_from_its_xcom(root: Path, xcoms: dict) -> None:
    xcoms["validate"] = _validated(root / "churn" / "validation" / "w" / "gx_result.html")

    url = links.GxResultLink().get_link(None, ti_key=_key("retrain_churn", "validate"))

    assert url == f"{BASE}/retraining-artifacts/churn/validation/w/gx_result.html"


def test_failed_validate_links_the_result_found_from_the_extract_window(root: Path, xcoms: dict) -> None:
    window = training_window(datetime(2026, 3, 16, tzinfo=UTC), 56, 14)
    xcoms["extract"] = Extracted("snapshot.parquet", "h", 100, window).to_xcom()
    link = links.GxResultLink()

    assert link.get_link(None, ti_key=_key("retrain_churn", "validate")) == ""  # not written: no link

    result = root / "churn" / "validation" / window.label / "gx_result.html"
    result.parent.mkdir(parents=True)
    result.write_text("<html>failed</html>")

    assert link.get_link(None, ti_key=_key("retrain_churn", "validate")) == (
        f"{BASE}/retraining-artifacts/churn/validation/{window.label}/gx_result.html"
    )


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [("retrain_churn", "extract"), ("retrain_churn", "promote"), ("monitor_churn", "decide"), ("other", "train")],
)
def test_tasks_without_an_artifact_get_no_link(root: Path, xcoms: dict, dag_id: str, task_id: str) -> None:
    xcoms.update(train=_trained("r", "1"), validate=_validated(root / "churn" / "a.html"))

    for link in (links.MlflowRunLink(), links.GxResultLink(), links.EvidentlyReportLink()):
        assert link.get_link(None, ti_key=_key(dag_id, task_id)) == ""


def test_a_link_never_raises(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ti_key, task_id):
        raise RuntimeError("metadata database unreachable")

    monkeypatch.setattr(links, "_return_value", broken)

    assert links.MlflowRunLink().get_link(None, ti_key=_key("retrain_churn", "train")) == ""


def test_file_links_disappear_when_serving_is_off(root: Path, xcoms: dict, monkeypatch) -> None:
    monkeypatch.setenv("RETRAINING_SERVE_ARTIFACTS", "false")
    xcoms["validate"] = _validated(root / "churn" / "gx_result.html")

    assert links.GxResultLink().get_link(None, ti_key=_key("retrain_churn", "validate")) == ""


# The artifact endpoint
@pytest.fixture
def client(root: Path, tmp_path: Path) -> TestClient:
    (root / "churn" / "report.html").write_text("<html>report</html>")
    (root / "churn" / "summary.json").write_text("{}")
    (root / "churn" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "churn" / "snapshot.parquet").write_bytes(b"PAR1")
    (root / "other").mkdir()
    (root / "other" / "report.html").write_text("<html>other</html>")
    (tmp_path / "outside.html").write_text("<html>outside</html>")
    (root / "churn" / "escape.html").symlink_to(tmp_path / "outside.html")
    app = links.create_artifact_app(lambda: root)
    app.dependency_overrides[links.model_access] = lambda: lambda model: model == "churn"
    return TestClient(app)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("churn/report.html", "text/html"), ("churn/summary.json", "application/json"), ("churn/plot.png", "image/png")],
)
def test_endpoint_serves_allowed_files_under_the_root(client: TestClient, path: str, content_type: str) -> None:
    response = client.get(f"/{path}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"


def test_endpoint_sandboxes_html(client: TestClient) -> None:
    response = client.get("/churn/report.html")

    assert response.text == "<html>report</html>"
    assert response.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize(
    "path",
    [
        "/%2e%2e/outside.html",
        "/churn/%2e%2e/%2e%2e/outside.html",
        "/churn/..%2f..%2foutside.html",
        "/%2Fetc%2Fpasswd",
        "/churn/escape.html",
        "/churn/snapshot.parquet",
        "/churn/missing.html",
        "/churn",
    ],
)
def test_endpoint_refuses_traversal_other_suffixes_and_missing_files(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert "outside" not in response.text


@pytest.mark.parametrize("path", ["/other/report.html", "/other/missing.html", "/other/snapshot.parquet"])
def test_endpoint_refuses_a_model_the_user_may_not_read_whether_or_not_the_file_exists(
    client: TestClient, path: str
) -> None:
    # The same answer for a file that exists and one that does not: no existence oracle.
    assert client.get(path).status_code == 403


def test_endpoint_serves_nothing_outside_a_models_folder_even_to_an_admin(root: Path) -> None:
    # compose keeps the pipeline's data folder under the artifact root
    (root / ".data").mkdir()
    (root / ".data" / "state.json").write_text('{"secret": 1}')
    app = links.create_artifact_app(lambda: root)
    app.dependency_overrides[links.model_access] = lambda: lambda model: True

    response = TestClient(app).get("/.data/state.json")

    assert response.status_code == 404
    assert "secret" not in response.text


def test_endpoint_answers_a_nul_byte_with_a_404(client: TestClient) -> None:
    assert client.get("/churn/report%00.html").status_code == 404


def test_endpoint_refuses_a_symlink_into_another_models_folder(client: TestClient, root: Path) -> None:
    (root / "churn" / "peek.html").symlink_to(root / "other" / "report.html")

    response = client.get("/churn/peek.html")

    assert response.status_code == 404
    assert "other" not in response.text


def test_endpoint_serves_a_report_from_an_object_store_root() -> None:
    # memory:// stands in for s3://: no local file, the bytes come through the artifact store.
    from include.retraining.artifacts import artifact_path, write_text

    root = f"memory://bucket-links-{id(object())}/prefix"
    report = write_text(artifact_path(root) / "churn" / "monitoring" / "w1" / "drift_report.html", "<html>s3</html>")
    write_text(artifact_path(root) / "other" / "report.html", "<html>other</html>")
    app = links.create_artifact_app(lambda: root)
    app.dependency_overrides[links.model_access] = lambda: lambda model: model == "churn"
    client = TestClient(app)

    served = client.get("/churn/monitoring/w1/drift_report.html")

    assert (served.status_code, served.text) == (200, "<html>s3</html>")
    assert served.headers["content-security-policy"].startswith("sandbox")
    assert client.get("/churn/monitoring/w1/missing.html").status_code == 404
    assert client.get("/churn/%2e%2e/other/report.html").status_code == 404
    assert client.get("/other/report.html").status_code == 403
    assert (
        links.artifact_url(str(report), root, BASE)
        == f"{BASE}/retraining-artifacts/churn/monitoring/w1/drift_report.html"
    )
    report.fs.rm(artifact_path(root).path, recursive=True)


def test_endpoint_requires_an_airflow_login(root: Path) -> None:
    (root / "churn" / "report.html").write_text("<html>report</html>")
    client = TestClient(links.create_artifact_app(lambda: root))

    response = client.get("/churn/report.html")

    assert response.status_code == 401
    assert "report" not in response.text


# Registration and import cost
def test_plugin_registers_three_global_links_and_the_endpoint() -> None:
    plugin = links.RetrainingLinksPlugin

    assert sorted(link.name for link in plugin.global_operator_extra_links) == [
        "Evidently report",
        "GX result",
        "MLflow run",
    ]
    assert [app["url_prefix"] for app in plugin.fastapi_apps] == ["/retraining-artifacts"]


def test_serving_off_mounts_no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAINING_SERVE_ARTIFACTS", "false")

    module = _load_plugin("retraining_links_off")

    assert module.RetrainingLinksPlugin.fastapi_apps == []
    sys.modules.pop("retraining_links_off")


def test_plugin_imports_nothing_heavy() -> None:
    heavy = ("pandas", "sklearn", "mlflow", "great_expectations", "evidently", "pyarrow", "matplotlib")
    code = (
        f"import sys, json; sys.path.insert(0, {str(REPO / 'plugins')!r}); import retraining_links; "
        f"print(json.dumps([h for h in {heavy!r} if h in sys.modules]))"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)

    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
