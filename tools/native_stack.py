"""The production topology as native processes on loopback, for machines without Docker.

Airflow (api-server, scheduler, dag-processor, triggerer, and with the CeleryExecutor a Celery
worker) on its own metadata database, plus optionally an MLflow tracking server that requires a
login (MLflow's basic-auth app). Used by the integration tests, the demo and `make stack`. Every
process is started in its own process group and stopped by pid, so nothing else on the machine is
touched. Secrets and passwords are random per start.

    python -m tools.native_stack --postgres postgres@127.0.0.1:5432

creates the databases retraining_airflow and retraining_mlflow on that server when absent; when no
PostgreSQL (or Redis, for the Celery broker) answers there, throwaway ones are started and stopped
with the stack (tools/services.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tools.services import local_services

REPO = Path(__file__).resolve().parents[1]
# Tasks are forked from a worker that imported pandas, scikit-learn, MLflow, GX and Evidently once
# (include/orchestration/worker_preload.py), instead of each task importing them for 5-15 s.
# docker-compose.yaml sets the Celery one; tests/unit/project/test_compose.py keeps the two equal.
WORKER_PRELOAD_ENV = {
    "CeleryExecutor": {
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "include.orchestration.celery_config.CELERY_CONFIG",
    },
    "LocalExecutor": {
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "include.orchestration.worker_preload",
    },
}

# MLflow 3's server starts a job runner with 7 huey consumers for GenAI jobs this pipeline never
# runs: about 50 s of CPU at start and 2 GB of RSS. docker-compose.yaml sets the same.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

ADMIN = "admin"
# The UI's auth managers: Airflow's simple one (development: users and roles in environment
# variables, passwords in a file) or FAB's (users and roles in the metadata database; the roles
# of include/orchestration/ui_roles.py). docker-compose.yaml and `make stack` run FAB.
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB_AUTH = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# MLflow's auth app: an admin created on the first start of an empty user store, with this password.
MLFLOW_AUTH_CONFIG = """[mlflow]
default_permission = READ
database_uri = sqlite:///{database}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
"""


# `make stack`: one user per role of include/orchestration/ui_roles.py beside the admin.
STACK_USERS = {"viewer": "Viewer", "operator": "Operator", "approver": "Approver"}


# Every port this process handed out: the kernel may offer a port again as soon as its probe
# socket closed, long before the stack it went to starts listening on it (two stacks of one test
# session were given the same port).
_HANDED_OUT: set[int] = set()


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (all bound at once, so none repeats), none
    handed out before by this process."""
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in _HANDED_OUT:
                ports.append(port)
        _HANDED_OUT.update(ports)
        return ports


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last_error = exc
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}; last error: {last_error}")


# Every port a stack listens on, each its own (NativeStack's fields).
PORTS = ("api_port", "mlflow_port", "worker_log_port", "trigger_log_port", "health_check_port")


@dataclass
class NativeStack:
    home: Path
    metadata_url: str
    executor: str = "LocalExecutor"
    broker_url: str | None = None
    mlflow_backend_url: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # 0: a free port, picked when the stack is made. Besides the API and MLflow, Airflow's own
    # servers: the log servers of the task runners (the scheduler under LocalExecutor, the Celery
    # worker) and of the triggerer, and the scheduler's health check. On their defaults (8793, 8794,
    # 8974) two stacks on one machine (two test workers, a test beside `make stack`) would collide.
    api_port: int = 0
    mlflow_port: int = 0
    worker_log_port: int = 0
    trigger_log_port: int = 0
    health_check_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    # Fresh per stack: whoever knows these can mint admin tokens for the API or forge MLflow sessions.
    api_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    mlflow_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    mlflow_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    with_triggerer: bool = True
    # With the CeleryExecutor, one worker per entry, each with this environment on top of the
    # stack's (e.g. a data folder of its own, as on another host); empty: one worker.
    worker_envs: tuple[Mapping[str, str], ...] = ()
    # The log servers of the workers after the first, each on a port of its own.
    more_worker_log_ports: list[int] = field(default_factory=list)
    auth_manager: str = SIMPLE_AUTH
    # More UI users beside the admin, name -> role: under the simple auth manager one of viewer,
    # user, op, admin; under FAB one of ui_roles.ROLES (Viewer, Operator, Approver), one user each.
    extra_users: Mapping[str, str] = field(default_factory=dict)
    extra_passwords: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unset = [name for name in PORTS if not getattr(self, name)]
        more = max(0, len(self.worker_envs) - 1 - len(self.more_worker_log_ports))
        ports = free_ports(len(unset) + more)
        for name, port in zip(unset, ports, strict=False):
            setattr(self, name, port)
        self.more_worker_log_ports += ports[len(unset) :]
        for name in self.extra_users:
            self.extra_passwords.setdefault(name, secrets.token_urlsafe(12))

    def password_of(self, user: str) -> str:
        return self.password if user == ADMIN else self.extra_passwords[user]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def env(self) -> dict[str, str]:
        airflow_home = self.home / "airflow"
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_check_port),
            "AIRFLOW__API__SECRET_KEY": self.api_secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__CORE__AUTH_MANAGER": self.auth_manager,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{name}:{role}" for name, role in {ADMIN: "admin", **self.extra_users}.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
            # Pick up new DAG files and queued asset events within seconds, not minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "RETRAINING_DATA_DIR": str(self.home / "data"),
            "GX_ANALYTICS_ENABLED": "False",
            # Models are loaded only in the project's skops format, never unpickled.
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        }
        env.update(WORKER_PRELOAD_ENV.get(self.executor, {}))
        if self.executor == "CeleryExecutor":
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url or "redis://127.0.0.1:6379/0"
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + self.metadata_url.replace("+psycopg2", "")
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "2"
        if self.mlflow_backend_url:
            env.update(self.mlflow_credentials())
        env.update(self.extra_env)
        return env

    def mlflow_credentials(self) -> dict[str, str]:
        """What an MLflow client needs to reach this stack's server (it reads them from the environment)."""
        return {
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_TRACKING_USERNAME": ADMIN,
            "MLFLOW_TRACKING_PASSWORD": self.mlflow_password,
        }

    def _mlflow_server_env(self) -> dict[str, str]:
        folder = self.home / "mlflow-auth"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "basic_auth.ini"
        # The admin is created only in an empty user store; a fresh store takes this start's password.
        (folder / "users.db").unlink(missing_ok=True)
        _write_private(config, MLFLOW_AUTH_CONFIG.format(database=folder / "users.db", admin=ADMIN))
        return {
            **MLFLOW_SERVER_ENV,
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.mlflow_password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.mlflow_secret,
        }

    def _spawn(self, name: str, command: list[str], env: Mapping[str, str] | None = None) -> None:
        log_dir = self.home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )

    def write_passwords(self) -> Path:
        """The simple auth manager's passwords file, readable by this user only."""
        path = self.home / "airflow" / "passwords.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps({ADMIN: self.password, **self.extra_passwords}))
        return path

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def ui_users_env(self) -> dict[str, str]:
        """The FAB users (include/orchestration/ui_roles.py reads them): the admin and the extra users."""
        env = {"AIRFLOW_ADMIN_USERNAME": ADMIN, "AIRFLOW_ADMIN_PASSWORD": self.password}
        for name, role in self.extra_users.items():
            prefix = f"AIRFLOW_{role.upper()}"
            if f"{prefix}_USERNAME" in env:
                raise ValueError(f"extra_users: two users with the role {role}; the FAB stack makes one per role")
            env.update({f"{prefix}_USERNAME": name, f"{prefix}_PASSWORD": self.extra_passwords[name]})
        return env

    def sync_ui_users(self) -> None:
        """Create or update FAB's roles and this stack's users, as compose's airflow-init does."""
        users = [sys.executable, "-m", "include.orchestration.ui_roles"]
        env = {**self.env(), **self.ui_users_env()}
        subprocess.run(users, env=env, check=True, capture_output=True, cwd=REPO)

    def start(self, timeout_s: float = 180) -> NativeStack:
        self.write_passwords()
        subprocess.run(self._airflow("db", "migrate"), env=self.env(), check=True, capture_output=True, cwd=REPO)
        if self.auth_manager == FAB_AUTH:
            self.sync_ui_users()
        if self.mlflow_backend_url:
            self._spawn(
                "mlflow",
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--app-name",
                    "basic-auth",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.mlflow_port),
                    "--backend-store-uri",
                    self.mlflow_backend_url,
                    "--serve-artifacts",
                    "--artifacts-destination",
                    str(self.home / "mlartifacts"),
                    "--workers",
                    "1",
                ],
                env=self._mlflow_server_env(),
            )
        self._spawn("api-server", self._airflow("api-server", "--port", str(self.api_port), "--workers", "1"))
        self._spawn("scheduler", self._airflow("scheduler"))
        self._spawn("dag-processor", self._airflow("dag-processor"))
        if self.with_triggerer:
            self._spawn("triggerer", self._airflow("triggerer"))
        if self.executor == "CeleryExecutor":
            self._spawn_workers()
        try:
            wait_until(self._healthy, timeout_s, "the API server, scheduler and triggerer to report healthy")
            if self.mlflow_backend_url:
                wait_until(lambda: requests.get(f"{self.mlflow_url}/health", timeout=5).ok, timeout_s, "MLflow")
        except TimeoutError:
            self.stop()
            raise
        return self

    def _spawn_workers(self) -> None:
        """One Celery worker (`celery-worker`), or one per `worker_envs` entry (`celery-worker`,
        `celery-worker-2`, ...), each with its own Celery hostname and log server port."""
        if not self.worker_envs:
            self._spawn("celery-worker", self._airflow("celery", "worker", "--concurrency", "2"))
            return
        log_ports = [self.worker_log_port, *self.more_worker_log_ports]
        for number, (extra, port) in enumerate(zip(self.worker_envs, log_ports, strict=False), start=1):
            name = "celery-worker" if number == 1 else f"celery-worker-{number}"
            command = self._airflow("celery", "worker", "--concurrency", "1", "--celery-hostname", f"{name}@%h")
            self._spawn(name, command, {**extra, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)})

    def _healthy(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.home / 'logs' / name}.log")
        health = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        return all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))

    def stop(self, timeout_s: float = 30) -> None:
        """Terminate what this stack started, by process group, then kill what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # A process its group leader started while stopping (a LocalExecutor worker forked from
        # the forkserver during shutdown) missed the SIGTERM and would outlive the stack.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    def __enter__(self) -> NativeStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # The public REST API, with a token from the auth manager (both answer /auth/token). Generous read timeouts: an
    # api-server on a busy machine answers in tens of seconds, and a slow answer is not an error.
    def token(self, user: str = ADMIN) -> str:
        response = requests.post(
            f"{self.api_url}/auth/token", json={"username": user, "password": self.password_of(user)}, timeout=60
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method,
            f"{self.api_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
            **kwargs,
        )
        if not response.ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: list[str], timeout_s: float = 120) -> None:
        def parsed() -> bool:
            found = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            return set(dag_ids) <= found

        wait_until(parsed, timeout_s, f"the dag-processor to parse {dag_ids}", interval_s=2)

    def trigger(self, dag_id: str, logical_date: datetime | None = None, conf: dict | None = None) -> str:
        body: dict[str, Any] = {"logical_date": logical_date.isoformat() if logical_date else None, "conf": conf or {}}
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 300) -> dict:
        def finished() -> dict | None:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return wait_until(finished, timeout_s, f"{dag_id} run {run_id} to finish", interval_s=2)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=REPO / ".data" / "stack")
    parser.add_argument(
        "--postgres",
        default="postgres@127.0.0.1:5432",
        help="user@host:port of the PostgreSQL server for the databases retraining_airflow and retraining_mlflow",
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--executor", default="CeleryExecutor", choices=["CeleryExecutor", "LocalExecutor"])
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    args = parser.parse_args(argv)
    # Ctrl-C, `kill` or a closed terminal all stop the stack, also while it is starting; explicit
    # handlers because a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    celery = args.executor == "CeleryExecutor"
    try:
        admin_url = f"postgresql+psycopg2://{args.postgres}/postgres"
        with local_services(admin_url, args.broker_url if celery else None) as (admin_url, broker_url):
            metadata_url, mlflow_url = _database_urls(admin_url)
            for name in create_databases(metadata_url, mlflow_url):
                print(f"created database {name}")
            stack = NativeStack(
                home=args.home.resolve(),
                metadata_url=metadata_url,
                executor=args.executor,
                broker_url=broker_url,
                mlflow_backend_url=mlflow_url,
                api_port=args.api_port,
                mlflow_port=args.mlflow_port,
                auth_manager=FAB_AUTH,
                extra_users=STACK_USERS,
            )
            _serve(stack)
    except KeyboardInterrupt:
        pass


def _database_urls(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    url = sa.engine.make_url(admin_url)
    metadata = url.set(database="retraining_airflow").render_as_string(hide_password=False)
    mlflow = url.set(drivername="postgresql", database="retraining_mlflow").render_as_string(hide_password=False)
    return metadata, mlflow


def _serve(stack: NativeStack) -> None:
    """Start the stack, say where it is, and run until interrupted; always stop what was started."""
    try:
        stack.start()
        print(f"Airflow {stack.api_url} (user {ADMIN}, password {stack.password})")
        for name, role in stack.extra_users.items():
            print(f"        user {name} ({role}), password {stack.password_of(name)}")
        print(f"MLflow  {stack.mlflow_url} (user {ADMIN}, password {stack.mlflow_password})")
        print(f"logs in {stack.home / 'logs'}; Ctrl-C stops every process", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        stack.stop()
        print("stopped", flush=True)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds a password), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode under O_CREAT
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def create_databases(*urls: str) -> list[str]:
    """Create each URL's PostgreSQL database when it does not exist yet, connecting to the same
    server's `postgres` database; returns the names it created."""
    import sqlalchemy as sa

    created = []
    for raw in urls:
        url = sa.engine.make_url(raw)
        if not url.drivername.startswith("postgresql") or not url.database:
            raise ValueError(f"create_databases needs PostgreSQL URLs with a database name, not {raw!r}")
        engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                query = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
                if conn.execute(query, {"name": url.database}).scalar() is None:
                    conn.execute(sa.text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(url.database)}"))
                    created.append(url.database)
        finally:
            engine.dispose()
    return created


if __name__ == "__main__":
    main()
