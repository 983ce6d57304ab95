"""The native stack's configuration (tools/native_stack.py), without starting it: secrets are random
per stack, the passwords file is private, and every process is told never to unpickle a model."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tools.native_stack import NativeStack

pytestmark = pytest.mark.unit

SECRETS = ("AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "MLFLOW_TRACKING_PASSWORD")


def _stack(home: Path) -> NativeStack:
    return NativeStack(home=home, metadata_url="sqlite:///unused.db", mlflow_backend_url="sqlite:///unused-mlflow.db")


def test_two_stacks_never_share_a_secret(tmp_path: Path) -> None:
    first, second = _stack(tmp_path / "a").env(), _stack(tmp_path / "b").env()

    assert [name for name in SECRETS if first[name] == second[name]] == []
    assert all(len(first[name]) >= 16 for name in SECRETS)


def test_every_process_refuses_pickled_models_and_logs_in_to_mlflow(tmp_path: Path) -> None:
    stack = _stack(tmp_path)

    env = stack.env()

    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    assert (env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_USERNAME"]) == (stack.mlflow_url, "admin")
    assert env["MLFLOW_TRACKING_PASSWORD"] == stack.mlflow_password


def test_the_passwords_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    stale = tmp_path / "airflow" / "passwords.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    stale.chmod(0o644)

    path = stack.write_passwords()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack.password in path.read_text()


def test_the_mlflow_server_gets_its_auth_config_in_a_private_file(tmp_path: Path) -> None:
    stack = _stack(tmp_path)

    env = stack._mlflow_server_env()

    config = Path(env["MLFLOW_AUTH_CONFIG_PATH"])
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == stack.mlflow_password
    assert len(env["MLFLOW_FLASK_SERVER_SECRET_KEY"]) >= 32
