"""The native stack's configuration (tools/native_stack.py), without starting it: secrets are random
per stack, the passwords file is private, and every process is told never to unpickle a model."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tools.native_stack import ADMIN, FAB_AUTH, NativeStack, free_ports

pytestmark = pytest.mark.unit

SECRETS = ("AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "MLFLOW_TRACKING_PASSWORD")


def _stack(home: Path) -> NativeStack:
    return NativeStack(home=home, metadata_url="sqlite:///unused.db", mlflow_backend_url="sqlite:///unused-mlflow.db")


def test_two_stacks_never_share_a_secret(tmp_path: Path) -> None:
    first, second = _stack(tmp_path / "a").env(), _stack(tmp_path / "b").env()

    assert [name for name in SECRETS if first[name] == second[name]] == []
    assert all(len(first[name]) >= 16 for name in SECRETS)


# Airflow's defaults for the servers a stack starts besides the API (`airflow config list`):
# the worker's and the triggerer's log servers and the scheduler's health check.
PORT_SETTINGS = {
    "AIRFLOW__API__PORT": 8080,
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": 8793,
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": 8794,
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": 8974,
}


def test_two_stacks_never_share_a_port_and_none_is_left_on_airflows_default(tmp_path: Path) -> None:
    """Two stacks on one machine (two test workers, a test beside `make stack`) each get their own
    port for every server they start; no setting falls back to Airflow's fixed default."""
    stacks = [_stack(tmp_path / "a"), _stack(tmp_path / "b")]

    ports = [[int(stack.env()[name]) for name in PORT_SETTINGS] + [stack.mlflow_port] for stack in stacks]

    assert len(set(ports[0] + ports[1])) == 2 * len(ports[0]), ports
    assert not set(ports[0] + ports[1]) & set(PORT_SETTINGS.values()), ports


def test_a_port_given_is_kept(tmp_path: Path) -> None:
    stack = NativeStack(home=tmp_path, metadata_url="sqlite:///unused.db", api_port=8080, mlflow_port=5000)

    env = stack.env()

    assert (env["AIRFLOW__API__PORT"], stack.mlflow_url) == ("8080", "http://127.0.0.1:5000")
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] != "8793"


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


def test_workers_of_their_own_each_get_their_environment_a_celery_name_and_a_log_port(tmp_path: Path) -> None:
    envs = ({"RETRAINING_DATA_DIR": "/host-a"}, {"RETRAINING_DATA_DIR": "/host-b"})
    stack = NativeStack(home=tmp_path, metadata_url="sqlite:///unused.db", executor="CeleryExecutor", worker_envs=envs)
    spawned = {}
    stack._spawn = lambda name, command, env=None: spawned.update({name: (command, env)})

    stack._spawn_workers()

    assert sorted(spawned) == ["celery-worker", "celery-worker-2"]
    (a_command, a_env), (b_command, b_env) = spawned["celery-worker"], spawned["celery-worker-2"]
    assert (a_env["RETRAINING_DATA_DIR"], b_env["RETRAINING_DATA_DIR"]) == ("/host-a", "/host-b")
    assert "celery-worker@%h" in a_command and "celery-worker-2@%h" in b_command
    ports = {a_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"], b_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]}
    assert len(ports) == 2 and str(stack.api_port) not in ports


def _fab_stack(home: Path, users: dict[str, str]) -> NativeStack:
    return NativeStack(home=home, metadata_url="sqlite:///unused.db", auth_manager=FAB_AUTH, extra_users=users)


def test_a_fab_stack_makes_one_user_per_role_with_its_own_password(tmp_path: Path) -> None:
    stack = _fab_stack(tmp_path, {"vera": "Viewer", "ada": "Approver"})

    env, users = stack.env(), stack.ui_users_env()

    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH
    assert users == {
        "AIRFLOW_ADMIN_USERNAME": ADMIN,
        "AIRFLOW_ADMIN_PASSWORD": stack.password,
        "AIRFLOW_VIEWER_USERNAME": "vera",
        "AIRFLOW_VIEWER_PASSWORD": stack.password_of("vera"),
        "AIRFLOW_APPROVER_USERNAME": "ada",
        "AIRFLOW_APPROVER_PASSWORD": stack.password_of("ada"),
    }
    assert len({stack.password, stack.password_of("vera"), stack.password_of("ada")}) == 3


def test_a_fab_stack_refuses_two_users_for_one_role(tmp_path: Path) -> None:
    stack = _fab_stack(tmp_path, {"a": "Viewer", "b": "Viewer"})

    with pytest.raises(ValueError, match="two users with the role Viewer"):
        stack.ui_users_env()


def test_a_port_is_never_handed_out_twice_in_one_process() -> None:
    first, second = free_ports(200), free_ports(200)

    assert len(set(first) | set(second)) == 400
