"""deploy/mlflow/create_reader.py against a real `mlflow server --app-name basic-auth` on loopback
(the compose one-shot `mlflow-reader`): the user it makes reads the registry and cannot move an
alias; a second run resets the password and creates nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support import REPO
from tests.support_faults import free_port, wait_until

pytestmark = pytest.mark.integration

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-for-tests"
READER = "serving"
START_DEADLINE_S = 300  # a deadline for calling the server hung, not a timing claim (~30 s on 2 cores)


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("mlflow-auth")
    config = home / "basic_auth.ini"
    shipped = (REPO / "deploy" / "mlflow" / "basic_auth.ini").read_text()
    config.write_text(shipped.replace("sqlite:////mlflow-auth/basic_auth.db", f"sqlite:///{home}/users.db"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "k" * 32,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--backend-store-uri", f"sqlite:///{home}/mlflow.db", "--workers", "1"]
    with (home / "server.log").open("ab") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url) or server.poll() is not None, START_DEADLINE_S, "the MLflow server", 0.5)
        assert server.poll() is None, (home / "server.log").read_text()[-3000:]
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _run_reader(url: str, password: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_USERNAME": ADMIN,
        "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
        "SERVING_MLFLOW_USERNAME": READER,
        "SERVING_MLFLOW_PASSWORD": password,
    }
    script = REPO / "deploy" / "mlflow" / "create_reader.py"
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)


def _client(url: str, user: str, password: str, monkeypatch: pytest.MonkeyPatch):
    """A client logged in as `user` (MLflow reads the login from the environment on every request)."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    return MlflowClient(tracking_uri=url, registry_uri=url)


def test_the_reader_reads_the_registry_and_cannot_move_an_alias(
    mlflow_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    admin = _client(mlflow_url, ADMIN, ADMIN_PASSWORD, monkeypatch)
    admin.create_registered_model("churn")
    admin.create_model_version("churn", "s3://no-bucket/churn/model")  # never read: only its alias matters
    admin.set_registered_model_alias("churn", "champion", "1")

    first = _run_reader(mlflow_url, "first-password-123")
    second = _run_reader(mlflow_url, "second-password-456")
    reader = _client(mlflow_url, READER, "second-password-456", monkeypatch)
    champion = reader.get_model_version_by_alias("churn", "champion")
    with pytest.raises(MlflowException) as refused:
        reader.set_registered_model_alias("churn", "champion", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "first-password-123")
    with pytest.raises(MlflowException) as old_password:
        reader.get_registered_model("churn")

    assert first.returncode == 0 and "created" in first.stderr, first.stderr[-2000:]
    assert second.returncode == 0 and "exists: password set" in second.stderr, second.stderr[-2000:]
    assert champion.version == "1"
    assert refused.value.get_http_status_code() == 403
    assert old_password.value.get_http_status_code() == 401
