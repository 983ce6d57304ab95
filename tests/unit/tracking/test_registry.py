"""The registry adapter on a real MLflow SQLite store: aliases, versions, fail-closed reads and
the order of the alias moves in a promotion."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from include.retraining.common import load_settings
from include.retraining.learning import SKOPS_TRUSTED_TYPES
from include.retraining.tracking import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Registry, RegistryError, Tracker
from include.retraining.tracking.tags import REPLACED_BY_TAG

pytestmark = pytest.mark.unit

NAME = "churn"


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _registry(client: MlflowClient, tmp_path: Path) -> Registry:
    """The registry of `churn` on the tracker that holds `client` (the adapter's own connection)."""
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    return Registry(Tracker(settings, trusted_types=SKOPS_TRUSTED_TYPES, client=client), NAME)


def _versions(client: MlflowClient, count: int, tmp_path: Path) -> list[str]:
    """Registered versions without real model files: the registry never opens them."""
    client.create_registered_model(NAME)
    experiment = client.create_experiment("e", artifact_location=tmp_path.as_uri())
    versions = []
    for _ in range(count):
        run = client.create_run(experiment)
        client.set_terminated(run.info.run_id)
        versions.append(str(client.create_model_version(NAME, tmp_path.as_uri(), run_id=run.info.run_id).version))
    return versions


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(NAME).aliases.items()}


def test_no_model_and_no_alias_mean_no_champion(client: MlflowClient, tmp_path: Path) -> None:
    registry = _registry(client, tmp_path)
    assert registry.champion() is None
    _versions(client, 1, tmp_path)
    assert registry.champion() is None and registry.previous_champion() is None


def test_an_alias_reads_as_the_uri_of_its_version_not_of_the_alias(client: MlflowClient, tmp_path: Path) -> None:
    """What a run read from `champion` is what it loads and compares with, even if the alias moves
    before the load (a backfill's promotion): compare-and-set then checks that same version."""
    v1, v2 = _versions(client, 2, tmp_path)
    registry = _registry(client, tmp_path)
    registry.promote(v1, {})
    read = registry.champion()

    registry.promote(v2, {})

    assert read.model_uri == f"models:/{NAME}/{v1}"
    assert registry.previous_champion().model_uri == f"models:/{NAME}/{v1}"


def test_promotion_moves_champion_and_keeps_the_rollback_pointer(client: MlflowClient, tmp_path: Path) -> None:
    v1, v2 = _versions(client, 2, tmp_path)
    registry = _registry(client, tmp_path)
    assert registry.promote(v1, {"retraining.decision": "promote"}) is None
    assert registry.promote(v2, {"retraining.decision": "promote"}) == v1
    aliases = _aliases(client)
    assert aliases[CHAMPION] == v2 and aliases[PREVIOUS_CHAMPION] == v1
    assert client.get_model_version(NAME, v1).tags[REPLACED_BY_TAG] == v2
    assert registry.champion().version == v2


def test_removing_an_alias_is_idempotent_and_leaves_the_others(client: MlflowClient, tmp_path: Path) -> None:
    """The canary's end: alias `challenger` removed, and removed again by a retry."""
    v1, v2 = _versions(client, 2, tmp_path)
    registry = _registry(client, tmp_path)
    registry.promote(v1, {})
    registry.mark_challenger(v2, {"retraining.decision": "canary"})

    registry.remove_alias(CHALLENGER)
    registry.remove_alias(CHALLENGER)

    assert _aliases(client) == {CHAMPION: v1} and registry.alias(CHALLENGER) is None


def test_a_failed_champion_move_leaves_previous_champion_untouched(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2, v3 = _versions(client, 3, tmp_path)
    registry = _registry(client, tmp_path)
    registry.promote(v1, {})
    registry.promote(v2, {})
    real = client.set_registered_model_alias

    def fail_on_champion(name: str, alias: str, version: str) -> None:
        if alias == CHAMPION:
            raise RuntimeError("registry went away")
        real(name, alias, version)

    monkeypatch.setattr(client, "set_registered_model_alias", fail_on_champion)
    with pytest.raises(RuntimeError):
        registry.promote(v3, {})
    aliases = _aliases(client)
    assert aliases[CHAMPION] == v2 and aliases[PREVIOUS_CHAMPION] == v1


def test_a_retry_after_the_champion_moved_completes_the_rollback_pointer(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = _versions(client, 2, tmp_path)
    registry = _registry(client, tmp_path)
    registry.promote(v1, {})
    real = client.set_registered_model_alias

    def fail_on_previous(name: str, alias: str, version: str) -> None:
        if alias == PREVIOUS_CHAMPION:
            raise RuntimeError("registry went away")
        real(name, alias, version)

    monkeypatch.setattr(client, "set_registered_model_alias", fail_on_previous)
    with pytest.raises(RuntimeError):
        registry.promote(v2, {})
    monkeypatch.setattr(client, "set_registered_model_alias", real)
    assert registry.promote(v2, {}) == v1
    aliases = _aliases(client)
    assert aliases[CHAMPION] == v2 and aliases[PREVIOUS_CHAMPION] == v1


def test_register_version_is_idempotent_per_run(client: MlflowClient, tmp_path: Path) -> None:
    (v1,) = _versions(client, 1, tmp_path)
    run_id = client.get_model_version(NAME, v1).run_id
    registry = _registry(client, tmp_path)
    assert str(registry.version_for_run(run_id).version) == v1
    assert registry.register_version("unused", run_id, {}) == v1


class _Answer500(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error_code": "INTERNAL_ERROR", "message": "boom"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Answer500)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")


def _closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("where", ["closed port", "HTTP 500"])
@pytest.mark.usefixtures("no_retries")
def test_an_unreachable_or_failing_registry_raises_instead_of_reading_no_champion(
    where: str, failing_server: str, tmp_path: Path
) -> None:
    uri = _closed_port() if where == "closed port" else failing_server
    registry = _registry(MlflowClient(tracking_uri=uri, registry_uri=uri), tmp_path)
    with pytest.raises(RegistryError, match="nothing is decided or promoted"):
        registry.champion()
    with pytest.raises(RegistryError):
        registry.version_for_run("abc")
