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
