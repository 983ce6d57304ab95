"""The CI workflow (.github/workflows/ci.yml) is valid for GitHub Actions. Its `test` job runs what
`.ci/run` runs: the same commands (`make lint`, then `make test`) with CI=true, beside PostgreSQL,
Redis and MariaDB service containers. Its `image` job builds the Dockerfile with the commit and
checks the image: pip check, every DAG importing, the preflight. Its `cells` job runs the unit and DAG
tiers on the version matrix's other cells (matrix/*.lock).

The schema check uses check-jsonschema's vendored copy of the GitHub workflow schema, so it needs
no network."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

pytestmark = pytest.mark.unit

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
CI_RUN = REPO / ".ci" / "run"
# Shell bookkeeping in .ci/run, not a command CI has to run too.
_PREAMBLE = ("set ", "cd ")


def _check_jsonschema() -> str:
    found = Path(sys.executable).with_name("check-jsonschema")
    assert found.exists() or shutil.which("check-jsonschema"), "check-jsonschema missing: run `make venv`"
    return str(found) if found.exists() else str(shutil.which("check-jsonschema"))


def _ci_run() -> tuple[list[str], dict[str, str]]:
    """The commands `.ci/run` runs, in order, and the variables it exports."""
    commands, exported = [], {}
    for line in (raw.strip() for raw in CI_RUN.read_text().splitlines()):
        if not line or line.startswith("#") or line.startswith(_PREAMBLE):
            continue
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exported[name.strip()] = value.strip().strip("\"'")
        else:
            commands.append(line)
    return commands, exported


def _lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_passes_the_github_workflow_schema():
    result = _lint(WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))

    result = _lint(broken)

    assert result.returncode != 0 and "runs-on" in result.stdout + result.stderr


def test_ci_run_lints_then_tests_under_ci_true():
    commands, exported = _ci_run()

    assert [command for command in commands if command in ("make lint", "make test")] == ["make lint", "make test"]
    assert exported.get("CI", "").lower() == "true"


def test_the_workflow_has_a_test_job_a_cells_job_and_an_image_job(workflow: dict):
    assert set(workflow["jobs"]) == {"test", "cells", "image"}


def test_every_cell_of_the_version_matrix_runs_its_own_lock_in_ci(workflow: dict):
    job = workflow["jobs"]["cells"]
    cells = {cell["cell"]: cell["python"] for cell in job["strategy"]["matrix"]["include"]}
    locks = {path.stem for path in (REPO / "matrix").glob("*.lock")}
    run_steps = [step["run"].strip() for step in job["steps"] if "run" in step]

    assert set(cells) == locks and cells
    assert run_steps == ["make test-cell CELL=${{ matrix.cell }} CELL_PYTHON=python${{ matrix.python }}"]
    assert job["container"]["image"] == "python:${{ matrix.python }}-bookworm"
    assert job["env"] == workflow["jobs"]["test"]["env"]
    assert cells.get("py3.12") == "3.12"


def test_each_cell_lock_differs_from_the_main_lock_only_where_its_cell_says(workflow: dict):
    main = _pins(REPO / "requirements-dev.lock")
    airflow = _pins(REPO / "matrix" / "airflow3.2.lock")
    python312 = _pins(REPO / "matrix" / "py3.12.lock")

    assert airflow["apache-airflow"] == "3.2.2" and main["apache-airflow"] != "3.2.2"
    # Everything the pipeline itself pins is the same version in every cell.
    for name in ("mlflow", "scikit-learn", "pandas", "great-expectations", "evidently", "sqlalchemy"):
        assert airflow[name] == main[name] == python312[name], name
    assert python312["apache-airflow"] == main["apache-airflow"]


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not line.startswith((" ", "#")):
            pins[name.lower()] = version.split(";")[0].strip()
    return pins


def test_the_job_runs_the_commands_of_ci_run_under_ci_true(workflow: dict):
    job = workflow["jobs"]["test"]
    commands, exported = _ci_run()

    run_steps = [step["run"].strip() for step in job["steps"] if "run" in step]

    assert run_steps == commands
    assert {name: str(job.get("env", {}).get(name, "")).lower() for name in exported} == {
        name: value.lower() for name, value in exported.items()
    }


def test_postgres_redis_and_mariadb_are_service_containers_the_tests_are_pointed_at(workflow: dict):
    job = workflow["jobs"]["test"]
    services, env = job["services"], job["env"]

    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["mariadb"]["image"].startswith("mariadb:")
    assert "@postgres:5432/" in env["RETRAINING_TEST_PG_URL"]
    assert env["RETRAINING_TEST_REDIS_URL"].startswith("redis://redis:6379/")
    assert env["RETRAINING_TEST_MYSQL_URL"] == "mysql+pymysql://root@mariadb:3306/"


def _image_steps(workflow: dict) -> list[str]:
    return [" ".join(step["run"].split()) for step in workflow["jobs"]["image"]["steps"] if "run" in step]


def test_the_image_job_builds_the_dockerfile_with_the_commit_it_will_log(workflow: dict):
    build, logs_commit, *_ = _image_steps(workflow)
    dockerfile = (REPO / "Dockerfile").read_text()

    assert build.startswith("docker build ") and "--build-arg GIT_COMMIT=${{ github.sha }}" in build
    assert build.endswith(" .") and "-t retraining-airflow:ci" in build
    assert "ARG GIT_COMMIT" in dockerfile and "ENV RETRAINING_GIT_COMMIT=${GIT_COMMIT}" in dockerfile
    assert 'os.environ["RETRAINING_GIT_COMMIT"]' in logs_commit and '= "${{ github.sha }}"' in logs_commit
    assert "container" not in workflow["jobs"]["image"]  # docker build needs the runner's engine


def test_the_image_job_checks_packages_dags_and_the_preflight_inside_the_image(workflow: dict):
    steps = _image_steps(workflow)
    inside = [step for step in steps if step.startswith("docker run --rm ")]

    # The image's entrypoint runs anything but bash and python as `airflow <command>`.
    assert all(" retraining-airflow:ci python " in step or " retraining-airflow:ci bash " in step for step in inside)
    assert any(step.endswith("python -m pip check") for step in inside)
    dags = next(step for step in inside if "airflow dags list" in step)
    assert "airflow db migrate" in dags and "assert not bag.import_errors" in dags
    assert all(f'\\"{dag}_churn\\"' in dags for dag in ("retrain", "monitor", "score", "rollback"))
    assert any("python -m demo.churn_data" in step and "python -m retraining check" in step for step in inside)
