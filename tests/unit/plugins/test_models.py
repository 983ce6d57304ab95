"""The Models page's app: what it answers besides the page (the page itself is rendered in
tests/unit/orchestration/test_models_page.py and driven in a browser in tests/integration/test_ui.py)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType, SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from include.orchestration.ui_auth import current_user
from tests.support import REPO

pytestmark = pytest.mark.unit


def _load_plugin(name: str = "retraining_models") -> ModuleType:
    """As Airflow does: a top-level module from the plugins folder."""
    spec = importlib.util.spec_from_file_location(name, REPO / "plugins" / "retraining_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


models = _load_plugin()


def test_only_the_airflow_ui_may_frame_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    # The page holds a Roll back button; another site framing it could trick a click.
    monkeypatch.setattr(models, "_overviews", lambda user: ([], {}))
    app = models.create_models_app()
    app.dependency_overrides[current_user] = lambda: SimpleNamespace(get_name=lambda: "ada")

    response = TestClient(app).get("/")

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
def scrape_env(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A data folder with no model files and an outbox holding one alert; the scraper's token set."""
    from include.retraining.alerts import Alert, Outbox
    from include.retraining.warehouse import Database

    monkeypatch.setenv("RETRAINING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    monkeypatch.setenv(models.METRICS_TOKEN_ENV, "s3cret-token")
    Outbox(Database(f"sqlite:///{tmp_path / 'pipeline.db'}")).record(
        Alert("gate_blocked", "churn", "blocked", ["a line"], dedup_key="k1"), "slack"
    )
    return tmp_path


@pytest.fixture
def airflow_auth():
    """Airflow's configured auth manager, as the API server creates it (a bad token is its call)."""
    from airflow.api_fastapi import app as api_app

    before = api_app._AuthManagerState.instance
    api_app.create_auth_manager()
    yield
    api_app._AuthManagerState.instance = before


def test_the_scraper_token_reads_the_metrics_and_nothing_else_does(
    scrape_env, airflow_auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(models.create_models_app())

    scraped = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})

    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "retraining_models 0\n" in scraped.text
    assert 'retraining_alerts{status="pending"} 1\n' in scraped.text
    # a wrong token and no token go to Airflow's own authentication, which refuses them
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-tokem"}).status_code in (401, 403)
    assert client.get("/metrics").status_code in (401, 403)
    # with no token configured, the static token is no way in
    monkeypatch.delenv(models.METRICS_TOKEN_ENV)
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code in (401, 403)


def test_the_token_can_come_from_a_mounted_secret_file(
    scrape_env, airflow_auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(models.METRICS_TOKEN_ENV)
    secret = scrape_env / "metrics-token"
    secret.write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.setenv(f"{models.METRICS_TOKEN_ENV}_FILE", str(secret))

    response = TestClient(models.create_models_app()).get("/metrics", headers={"Authorization": "Bearer from-a-file"})

    assert response.status_code == 200 and "retraining_model_file_errors 0\n" in response.text


def test_an_airflow_user_sees_only_the_models_they_may_read(scrape_env, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def rows(settings, configs):
        seen.extend(configs)
        return []

    monkeypatch.setattr(models, "_rows", rows)
    monkeypatch.setattr(models, "_readable", lambda user, config: config.name == "visible")
    monkeypatch.setattr(
        "include.retraining.config.load_model_configs",
        lambda folder: ([SimpleNamespace(name="visible"), SimpleNamespace(name="hidden")], {}),
    )
    app = models.create_models_app()
    app.dependency_overrides[models.metrics_reader] = lambda: SimpleNamespace(get_name=lambda: "ada")

    response = TestClient(app).get("/metrics")

    assert response.status_code == 200
    assert [c.name for c in seen] == ["visible"]
