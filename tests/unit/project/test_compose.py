"""Static checks of the Docker deployment (docker-compose.yaml, the two Dockerfiles, .env.example).

They need no Docker engine: the files are parsed and compared with each other and with the pins in
requirements.txt, so a version bump or a renamed variable that breaks `docker compose up` fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support import REPO

pytestmark = pytest.mark.unit

ROOT = REPO
COMPOSE_FILE = ROOT / "docker-compose.yaml"
AIRFLOW_DOCKERFILE = ROOT / "Dockerfile"
MLFLOW_DOCKERFILE = ROOT / "deploy" / "mlflow" / "Dockerfile"
MLFLOW_REQUIREMENTS = ROOT / "deploy" / "mlflow" / "requirements.txt"
MLFLOW_LOCK = ROOT / "deploy" / "mlflow" / "requirements.lock"
MLFLOW_AUTH_CONFIG_FILE = ROOT / "deploy" / "mlflow" / "basic_auth.ini"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
POSTGRES_INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init" / "01-create-databases.sh"
REQUIREMENTS = ROOT / "requirements.txt"
LOCK = ROOT / "requirements.lock"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
ONE_SHOT_SERVICES = ("airflow-init",)
# One-shot, not an Airflow container: serving's read-only MLflow user.
MLFLOW_ONE_SHOT_SERVICES = ("mlflow-reader",)
REQUIRED_SERVICES = (
    "postgres",
    "redis",
    "mlflow",
    "serve",
    *MLFLOW_ONE_SHOT_SERVICES,
    *ONE_SHOT_SERVICES,
    *AIRFLOW_SERVICES,
)
# Variables include/ reads; each Airflow container must have them or tasks fall back to local defaults.
ENV_READ_BY_CODE = (
    "AIRFLOW_CONN_WAREHOUSE",
    "AIRFLOW_CONN_RETRAINING_DB",
    "AIRFLOW_CONN_SLACK_ALERTS",
    "MLFLOW_TRACKING_URI",
    "RETRAINING_ARTIFACT_ROOT",
    "RETRAINING_MODELS_DIR",
    "AIRFLOW__API__BASE_URL",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
FORBIDDEN_RUNTIME_INSTALL = "_PIP_ADDITIONAL_REQUIREMENTS"


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _pin(requirements_text: str, package: str) -> str:
    """The exact version `package==X` pins in a requirements or lock file (names compared normalized)."""
    wanted = re.sub(r"[-_.]+", "-", package).lower()
    for line in requirements_text.splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if match and re.sub(r"[-_.]+", "-", match.group(1)).lower() == wanted:
            return match.group(2)
    raise AssertionError(f"no exact pin for {package}")


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form: no condition at all
        return {name: {} for name in deps}
    return deps


def _is_secret(name: str) -> bool:
    """Names that hold a credential (a `..._FILE` variable holds only the path to one)."""
    return bool(SECRET_NAME.search(name)) and not name.endswith("_FILE")


def _compose_variables(text: str) -> set[str]:
    """Names compose interpolates (`${X}`, `${X:-d}`, `$X`); `$$` is an escaped literal dollar."""
    names = set()
    for match in re.finditer(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)", text):
        if match.group(0) != "$$":
            names.add(match.group(1) or match.group(2))
    return names


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2).strip().strip("'\"")
    return values


def _compose_default(text: str, variable: str) -> str:
    match = re.search(r"\$\{" + variable + r":-([^}]*)\}", text)
    assert match, f"{variable} has no default in docker-compose.yaml"
    return match.group(1)


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.strip().upper().startswith("COPY "):
            args = [arg for arg in line.split()[1:] if not arg.startswith("--")]
            sources += [src.rstrip("/") for src in args[:-1]]
    return sources


def test_compose_file_parses_to_services_and_volumes(compose):
    assert isinstance(compose, dict)
    assert isinstance(compose.get("services"), dict) and compose["services"]
    assert isinstance(compose.get("volumes"), dict)


@pytest.mark.parametrize("name", REQUIRED_SERVICES)
def test_required_service_exists(services, name):
    assert name in services, f"service {name} missing from docker-compose.yaml"


def test_every_long_running_service_has_a_healthcheck(services):
    long_running = [name for name in services if name not in (*ONE_SHOT_SERVICES, *MLFLOW_ONE_SHOT_SERVICES)]

    missing = [
        name
        for name in long_running
        if not (services[name].get("healthcheck") or {}).get("test") or services[name]["healthcheck"].get("disable")
    ]

    assert long_running and missing == []


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
@pytest.mark.parametrize(
    ("dependency", "condition"),
    [
        ("postgres", "service_healthy"),
        ("redis", "service_healthy"),
        ("airflow-init", "service_completed_successfully"),
    ],
)
def test_airflow_service_waits_for_its_dependencies(services, name, dependency, condition):
    deps = _depends_on(services[name])

    assert deps.get(dependency, {}).get("condition") == condition


@pytest.mark.parametrize(
    ("name", "dependency"),
    [
        ("airflow-init", "postgres"),
        ("airflow-init", "redis"),
        ("mlflow", "postgres"),
        # Tasks call the execution API and log to MLflow.
        ("airflow-worker", "airflow-apiserver"),
        ("airflow-worker", "mlflow"),
        # Serving reads the alias and loads the model from MLflow; its user is made there.
        ("serve", "mlflow"),
        ("mlflow-reader", "mlflow"),
    ],
)
def test_service_waits_until_dependency_is_healthy(services, name, dependency):
    assert _depends_on(services[name]).get(dependency, {}).get("condition") == "service_healthy"


def test_airflow_image_tag_matches_requirements_pin():
    pin = _pin(REQUIREMENTS.read_text(), "apache-airflow")

    bases = re.findall(r"^FROM\s+(\S+)", AIRFLOW_DOCKERFILE.read_text(), flags=re.MULTILINE)

    assert len(bases) == 1, bases
    match = re.fullmatch(r"apache/airflow:(?:slim-)?(?P<version>[0-9.]+)-python(?P<python>[0-9.]+)", bases[0])
    assert match, f"unexpected base image {bases[0]}"
    assert match.group("version") == pin
    assert match.group("python") == "3.11"


def test_airflow_image_installs_the_locked_set_at_build_time():
    dockerfile = AIRFLOW_DOCKERFILE.read_text()

    assert re.search(r"pip install --no-cache-dir -r \S*requirements\.txt -c \S*requirements\.lock", dockerfile)


def test_airflow_image_makes_include_importable():
    dockerfile = AIRFLOW_DOCKERFILE.read_text()

    assert re.search(r"^ENV\s+PYTHONPATH=/opt/airflow\s*$", dockerfile, flags=re.MULTILINE)
    for folder in ("include", "dags", "plugins", "serving", "retraining"):
        copy = rf"^COPY\s.*\b{folder}/?\s+/opt/airflow/{folder}/?\s*$"
        assert re.search(copy, dockerfile, flags=re.MULTILINE), folder


def test_mlflow_image_pins_the_project_versions():
    dockerfile = MLFLOW_DOCKERFILE.read_text()

    assert re.search(r"^FROM\s+python:3\.11-slim\s*$", dockerfile, flags=re.MULTILINE)
    assert re.search(r"pip install --no-cache-dir -r \S*requirements\.txt -c \S*requirements\.lock", dockerfile)
    assert _pin(MLFLOW_REQUIREMENTS.read_text(), "mlflow") == _pin(REQUIREMENTS.read_text(), "mlflow")
    assert "mlflow[auth]==" in MLFLOW_REQUIREMENTS.read_text(), "the basic-auth app needs the auth extra"


def test_mlflow_image_psycopg2_pin_matches_lock():
    pinned = _pin(MLFLOW_REQUIREMENTS.read_text(), "psycopg2-binary")

    assert pinned == _pin(LOCK.read_text(), "psycopg2-binary")


def test_mlflow_image_lock_agrees_with_the_project_lock():
    server, project = MLFLOW_LOCK.read_text(), LOCK.read_text()
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", server, flags=re.MULTILINE)

    shared = [name for name in names if re.search(rf"^{re.escape(name)}==", project, flags=re.MULTILINE)]

    assert len(shared) > 50
    assert {name: _pin(server, name) for name in shared if _pin(server, name) != _pin(project, name)} == {}


def test_mlflow_requires_a_login_with_credentials_from_env(services):
    mlflow = services["mlflow"]
    env = _environment(mlflow)

    assert mlflow["command"][mlflow["command"].index("--app-name") + 1] == "basic-auth"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"].startswith("${MLFLOW_FLASK_SERVER_SECRET_KEY:?")
    assert "ENV MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/basic_auth.ini" in MLFLOW_DOCKERFILE.read_text()


def test_mlflow_server_runs_as_the_native_stack_starts_it(services):
    from tools.native_stack import MLFLOW_SERVER_ENV

    env = _environment(services["mlflow"])

    for variable, value in MLFLOW_SERVER_ENV.items():
        assert env.get(variable) == value, variable


def test_mlflow_remembers_logins_as_the_native_stack_does():
    from tools.native_stack import MLFLOW_AUTH_CONFIG

    def ttl(text: str) -> str:
        return re.search(r"^auth_cache_ttl_seconds = (\d+)$", text, re.MULTILINE).group(1)

    assert ttl(MLFLOW_AUTH_CONFIG_FILE.read_text()) == ttl(MLFLOW_AUTH_CONFIG) == "60"


def test_mlflow_users_live_on_their_own_volume(services):
    config = MLFLOW_AUTH_CONFIG_FILE.read_text()

    database = re.search(r"^database_uri\s*=\s*sqlite:///(\S+)$", config, flags=re.MULTILINE)

    assert database and database.group(1).startswith("/mlflow-auth/")
    assert "mlflow-auth:/mlflow-auth" in services["mlflow"]["volumes"]
    assert "admin_password" not in config, "the password comes from .env, never from a file in git"


def _fallback(value: str, variable: str) -> str:
    """`${VARIABLE:-<fallback>}` -> the fallback; anything else fails the test."""
    match = re.fullmatch(rf"\$\{{{variable}:-(.*)\}}", value)
    assert match, f"{value!r} is not ${{{variable}:-...}}"
    return match.group(1)


@pytest.mark.parametrize("name", (*ONE_SHOT_SERVICES, *AIRFLOW_SERVICES))
def test_clients_use_your_mlflow_when_env_names_it_else_the_bundled_admin(services, name):
    client, server = _environment(services[name]), _environment(services["mlflow"])

    assert _fallback(client["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI") == "http://mlflow:5000"
    assert (
        _fallback(client["MLFLOW_TRACKING_USERNAME"], "MLFLOW_TRACKING_USERNAME")
        == server["MLFLOW_AUTH_ADMIN_USERNAME"]
    )
    assert (
        _fallback(client["MLFLOW_TRACKING_PASSWORD"], "MLFLOW_TRACKING_PASSWORD")
        == server["MLFLOW_AUTH_ADMIN_PASSWORD"]
    )
    example = _env_example()
    assert {k: example[k] for k in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")} == {
        "MLFLOW_TRACKING_URI": "",
        "MLFLOW_TRACKING_USERNAME": "",
        "MLFLOW_TRACKING_PASSWORD": "",
    }  # empty: the bundled server, as before


@pytest.mark.parametrize("name", ("mlflow", "serve", *MLFLOW_ONE_SHOT_SERVICES, *ONE_SHOT_SERVICES, *AIRFLOW_SERVICES))
def test_no_service_unpickles_a_model(services, name):
    assert _environment(services[name])["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"


@pytest.mark.parametrize("path", [COMPOSE_FILE, AIRFLOW_DOCKERFILE, MLFLOW_DOCKERFILE, ENV_EXAMPLE])
def test_nothing_is_pip_installed_at_container_start(path):
    assert FORBIDDEN_RUNTIME_INSTALL not in path.read_text()


@pytest.mark.parametrize("name", (*ONE_SHOT_SERVICES, *AIRFLOW_SERVICES))
@pytest.mark.parametrize("variable", ENV_READ_BY_CODE)
def test_code_settings_reach_every_airflow_container(services, name, variable):
    assert variable in _environment(services[name])


def test_every_compose_variable_is_declared_in_env_example(compose_text):
    used = _compose_variables(compose_text)

    undeclared = used - set(_env_example())

    assert used and undeclared == set()


def test_env_example_ships_no_secret_values():
    secrets = {name: value for name, value in _env_example().items() if _is_secret(name)}

    assert secrets and {name: value for name, value in secrets.items() if value} == {}


# A required variable, or an optional one that falls back to a required one (your own MLflow login,
# else the bundled admin's): never a literal, never an empty default.
REQUIRED = r"\$\{\w+:\?[^}]*\}"
REQUIRED_OR_FALLBACK = rf"{REQUIRED}|\$\{{\w+:-{REQUIRED}\}}"


def test_compose_has_no_literal_credentials(services):
    offenders = []
    for name, service in services.items():
        for key, value in _environment(service).items():
            if _is_secret(key) and not re.fullmatch(REQUIRED_OR_FALLBACK, value):
                offenders.append(f"{name}: {key}")
            for password in re.findall(r"://[^:/@\s]*:([^@\s]+)@", value):
                if not re.fullmatch(r"\$\{\w+:\?[^}]*\}", password):
                    offenders.append(f"{name}: password in {key}")

    assert offenders == []


@pytest.mark.parametrize(
    ("service", "variable", "prefix"),
    [
        ("airflow-scheduler", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_DB"),
        ("airflow-worker", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW_DB"),
        ("mlflow", "MLFLOW_BACKEND_STORE_URI", "MLFLOW_DB"),
        ("airflow-worker", "AIRFLOW_CONN_WAREHOUSE", "WAREHOUSE_DB"),
        ("airflow-worker", "AIRFLOW_CONN_RETRAINING_DB", "PIPELINE_DB"),
    ],
)
def test_database_urls_use_the_credentials_postgres_creates(services, service, variable, prefix):
    url = _environment(services[service])[variable]
    created = _environment(services["postgres"])

    referenced = set(re.findall(r"\$\{(\w+)", url))

    for part in ("USER", "PASSWORD", "NAME"):
        assert f"{prefix}_{part}" in referenced
        assert f"{prefix}_{part}" in created


def test_postgres_init_script_creates_the_four_databases(services):
    script = POSTGRES_INIT_SCRIPT.read_text()
    postgres_env = _environment(services["postgres"])

    read = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*_DB_[A-Z]+)", script))

    databases, parts = ("AIRFLOW", "MLFLOW", "WAREHOUSE", "PIPELINE"), ("USER", "PASSWORD", "NAME")
    expected = {f"{db}_DB_{part}" for db in databases for part in parts}
    assert expected <= read
    assert read - set(postgres_env) == set()
    assert "./deploy/postgres/init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]


def test_worker_can_be_scaled(services):
    worker = services["airflow-worker"]

    assert "container_name" not in worker
    assert "hostname" not in worker
    assert not worker.get("ports")


@pytest.mark.parametrize("name", (*ONE_SHOT_SERVICES, *AIRFLOW_SERVICES))
def test_executor_is_celery_on_redis_with_postgres_results(services, name):
    env = _environment(services[name])

    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert "@postgres:5432/" in env["AIRFLOW__CELERY__RESULT_BACKEND"]


@pytest.mark.parametrize("name", (*ONE_SHOT_SERVICES, *AIRFLOW_SERVICES))
def test_celery_workers_preload_the_libraries_as_the_native_stack_does(services, name):
    from tools.native_stack import WORKER_PRELOAD_ENV

    env = _environment(services[name])

    for variable, value in WORKER_PRELOAD_ENV["CeleryExecutor"].items():
        assert env.get(variable) == value, f"{name}: {variable}"


def test_mlflow_serves_artifacts_from_its_volume_behind_postgres(services):
    mlflow = services["mlflow"]
    command = mlflow["command"]

    assert "--serve-artifacts" in command
    assert command[command.index("--artifacts-destination") + 1] == "/mlartifacts"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "5000"
    assert _environment(mlflow)["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    assert any(volume.endswith(":/mlartifacts") for volume in mlflow["volumes"])


def test_mlflow_accepts_the_host_header_airflow_sends(services, compose_text):
    # MLflow 3 answers 403 to a Host header outside --allowed-hosts, yet /health stays 200.
    bundled = _fallback(_environment(services["airflow-worker"])["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI")
    tracking_host = urlsplit(bundled).netloc
    command = services["mlflow"]["command"]

    default = _compose_default(compose_text, "MLFLOW_ALLOWED_HOSTS")

    assert command[command.index("--allowed-hosts") + 1] == "${MLFLOW_ALLOWED_HOSTS:-" + default + "}"
    assert tracking_host in default.split(",")
    assert tracking_host in _env_example()["MLFLOW_ALLOWED_HOSTS"].split(",")


@pytest.mark.parametrize("dockerfile", [AIRFLOW_DOCKERFILE, MLFLOW_DOCKERFILE])
def test_dockerfile_holds_no_secret(dockerfile):
    text = dockerfile.read_text()

    found = re.findall(r"(?i)\w*(?:password|passwd|secret|token|api[_-]?key)\w*\s*[=:]\s*\S+", text)

    assert found == []


def test_dockerignore_keeps_local_files_out_of_the_build_context():
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]

    patterns = [line for line in lines if line and not line.startswith("#")]

    assert patterns[0] == "*"
    local = (".env", ".venv", ".git", ".data")
    assert [p for p in patterns if p.startswith("!") and p[1:].startswith(local)] == []


@pytest.mark.parametrize("dockerfile", [AIRFLOW_DOCKERFILE, MLFLOW_DOCKERFILE])
def test_dockerignore_lets_through_everything_the_images_copy(dockerfile):
    lines = DOCKERIGNORE.read_text().splitlines()
    allowed = {line.strip()[1:].rstrip("/") for line in lines if line.startswith("!")}

    sources = _copy_sources(dockerfile)

    assert sources and set(sources) - allowed == set()


def test_serve_runs_the_serving_process_for_the_configured_model(services, compose_text):
    serve = services["serve"]
    env = _environment(serve)

    assert serve["command"] == ["python", "-m", "serving"]
    assert serve["image"] == services["airflow-worker"]["image"]
    assert env["SERVING_MODEL"] == "${SERVING_MODEL:-" + _compose_default(compose_text, "SERVING_MODEL") + "}"
    assert env["SERVING_HOST"] == "0.0.0.0"
    assert env["MLFLOW_TRACKING_URI"] == _environment(services["airflow-worker"])["MLFLOW_TRACKING_URI"]
    assert env["RETRAINING_MODELS_DIR"] == _environment(services["airflow-worker"])["RETRAINING_MODELS_DIR"]
    assert (ROOT / "include" / "models" / f"{_env_example()['SERVING_MODEL']}.yaml").is_file()


def test_serve_is_healthy_only_while_it_serves_and_is_published_on_its_port(services):
    serve = services["serve"]
    port = _environment(serve)["SERVING_PORT"]

    assert f"http://localhost:{port}/health" in " ".join(serve["healthcheck"]["test"])
    assert serve["ports"] == ["${PUBLISH_ADDRESS:-127.0.0.1}:${SERVING_PORT:-8000}:" + port]


def test_serve_gets_no_airflow_setting_or_secret(services):
    env = _environment(services["serve"])

    airflow = [name for name in env if name.startswith(("AIRFLOW", "WAREHOUSE"))]

    assert airflow == []


def test_serve_requires_its_token_and_sets_its_limits(services):
    env = _environment(services["serve"])

    assert env["SERVING_TOKEN"] == "${SERVING_TOKEN:?set SERVING_TOKEN in .env}"
    assert _env_example()["SERVING_TOKEN"] == ""
    for name in ("SERVING_MAX_BODY_MB", "SERVING_MAX_ROWS", "SERVING_WORKERS", "SERVING_MAX_STALENESS"):
        assert env[name] == "${" + name + ":-" + _env_example()[name] + "}"


def test_env_example_never_calls_a_published_port_safe():
    text = ENV_EXAMPLE.read_text()
    exposure = text[text.index("PUBLISH_ADDRESS") - 600 : text.index("PUBLISH_ADDRESS=")]

    assert "SERVING_PORT" in exposure and "not safe" in exposure


def test_serve_logs_in_to_mlflow_as_the_read_only_user_mlflow_reader_creates(services):
    serve, reader = _environment(services["serve"]), _environment(services["mlflow-reader"])

    assert serve["MLFLOW_TRACKING_USERNAME"] == reader["SERVING_MLFLOW_USERNAME"]
    assert serve["MLFLOW_TRACKING_PASSWORD"] == reader["SERVING_MLFLOW_PASSWORD"]
    assert serve["MLFLOW_TRACKING_USERNAME"] != _environment(services["mlflow"])["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert _depends_on(services["serve"])["mlflow-reader"] == {"condition": "service_completed_successfully"}
    assert reader["SERVING_MLFLOW_USERNAME"].endswith(":-" + _env_example()["SERVING_MLFLOW_USERNAME"] + "}")
    assert re.search(r"^default_permission\s*=\s*READ$", MLFLOW_AUTH_CONFIG_FILE.read_text(), flags=re.MULTILINE)


def test_mlflow_reader_makes_serves_user_on_the_bundled_server_as_its_admin(services):
    reader, server, serve = (_environment(services[n]) for n in ("mlflow-reader", "mlflow", "serve"))

    assert reader["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert reader["MLFLOW_TRACKING_USERNAME"] == server["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert reader["MLFLOW_TRACKING_PASSWORD"] == server["MLFLOW_AUTH_ADMIN_PASSWORD"]
    assert serve["MLFLOW_TRACKING_USERNAME"] == reader["SERVING_MLFLOW_USERNAME"]
    assert serve["MLFLOW_TRACKING_PASSWORD"] == reader["SERVING_MLFLOW_PASSWORD"]


@pytest.mark.parametrize("name", (*ONE_SHOT_SERVICES, *AIRFLOW_SERVICES))
def test_every_airflow_container_runs_fab_as_the_native_stack_does(services, name):
    from tools.native_stack import FAB_AUTH

    assert _environment(services[name])["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH


def test_airflow_init_makes_one_ui_user_per_role_with_a_required_password(services):
    from include.orchestration.ui_roles import ROLES

    init = services["airflow-init"]
    env = _environment(init)

    assert "python -m include.orchestration.ui_roles" in init["command"][-1].split("airflow db migrate", 1)[1]
    for role in ROLES:
        password = f"AIRFLOW_{role.upper()}_PASSWORD"
        assert env[password].startswith("${" + password + ":?"), password
        assert env[f"AIRFLOW_{role.upper()}_USERNAME"].endswith(
            ":-" + _env_example()[f"AIRFLOW_{role.upper()}_USERNAME"] + "}"
        )
