"""Fault injection on real parts, for tests/reliability/: a loopback TCP proxy that cuts, refuses
or stalls connections on demand, a loopback HTTP server standing in for Slack that answers 200,
500 or too late, an MLflow tracking server subprocess, a DAG run in a child process that can be
SIGKILLed mid-task, and artifact roots that are read-only or full.

Every server here binds 127.0.0.1 on a free port, runs bounded daemon threads and stops itself
after `lifetime_s` even if a test forgets to; nothing needs root, and nothing is mocked.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tools.native_stack import MLFLOW_SERVER_ENV

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f}s for {what}")
        time.sleep(every_s)


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a crashed peer or a dropped link looks to the other side."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """A loopback TCP proxy in front of `target` whose connections a test can break.

    Modes for new connections: "pass" (forward), "refuse" (accept and reset at once), "stall"
    (accept, read, never answer). `cut()` resets every live connection now; `cut_when()` arms a
    cut that fires mid-conversation: when a client sends bytes containing a pattern, or after
    the server has sent a number of bytes, then switches to another mode (default "refuse").
    """

    def __init__(self, target_host: str, target_port: int, max_connections: int = 64, lifetime_s: float = 600):
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.accepted = 0
        self.cuts = 0
        self._max = max_connections
        self._deadline = time.monotonic() + lifetime_s
        self._trigger: tuple[bytes | None, int | None, str] | None = None
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()

    def url_for(self, url_with_target: str) -> str:
        """The same URL with the target's host:port replaced by the proxy's."""
        return url_with_target.replace(f"{self.target[0]}:{self.target[1]}", f"127.0.0.1:{self.port}")

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "refuse", "stall"), mode
        self.mode = mode

    def cut(self, then: str = "refuse") -> None:
        """Reset every live connection and treat new ones by `then`."""
        self.set_mode(then)
        self.cuts += 1
        with self._lock:
            live, self._live = set(self._live), set()
        for sock in live:
            _reset(sock)

    def cut_when(self, client_sends: bytes | None = None, server_bytes: int | None = None, then: str = "refuse"):
        """Arm a single cut: on the first client chunk containing `client_sends`, or once the
        server has sent `server_bytes` on one connection (counted from now)."""
        assert client_sends or server_bytes, "say what triggers the cut"
        self._trigger = (client_sends, server_bytes, then)

    @property
    def armed(self) -> bool:
        return self._trigger is not None

    def stop(self) -> None:
        self._stop.set()
        self.cut(then="refuse")
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=1)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.accepted += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            if self.mode == "refuse" or len(self._threads) >= self._max:
                _reset(client)
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self._live.add(client)
        if self.mode == "stall":
            self._drain(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._live.add(upstream)
        self._pump(client, upstream)

    def _drain(self, client: socket.socket) -> None:
        while not self._stop.is_set() and client in self._live:
            with contextlib.suppress(OSError):
                ready, _, _ = select.select([client], [], [], 0.2)
                if ready and not client.recv(65536):
                    break
        _reset(client)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sent_by_server = 0
        peer = {client: upstream, upstream: client}
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    if sock is upstream:
                        sent_by_server += len(data)
                    if self._fires(data, sock is client, sent_by_server):
                        raise ConnectionAbortedError("cut by the test")
                    peer[sock].sendall(data)
            except (OSError, ValueError):
                break
        _reset(client)
        _reset(upstream)
        with self._lock:
            self._live.discard(client)
            self._live.discard(upstream)

    def _fires(self, data: bytes, from_client: bool, sent_by_server: int) -> bool:
        trigger = self._trigger
        if trigger is None:
            return False
        pattern, after, then = trigger
        hit = (from_client and pattern is not None and pattern in data) or (
            not from_client and after is not None and sent_by_server >= after
        )
        if hit:
            self._trigger = None
            self.cut(then=then)
        return hit


@dataclass
class SlackStub:
    """A loopback HTTP endpoint standing in for a Slack webhook.

    `mode`: "ok" answers 200; "500" answers an internal error; "timeout" holds the request for
    `stall_s` seconds (longer than the client waits) and then accepts it, as a slow Slack that
    did post the message does. `attempts` counts every POST received, `accepted` the texts Slack
    would have shown.
    """

    url: str
    mode: str = "ok"
    stall_s: float = 6.0
    attempts: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)

    def connection(self, timeout_s: int | None = None) -> str:
        """The AIRFLOW_CONN_<ID> value of a slackwebhook connection to this endpoint."""
        conn: dict = {"conn_type": "slackwebhook", "password": self.url}
        if timeout_s is not None:
            conn["extra"] = {"timeout": timeout_s}
        return json.dumps(conn)


@contextlib.contextmanager
def slack_stub(lifetime_s: float = 600) -> Iterator[SlackStub]:
    stub = SlackStub(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            text = str(json.loads(body or b"{}").get("text", ""))
            stub.attempts.append(text)
            mode = stub.mode
            if mode == "timeout":
                time.sleep(stub.stall_s)
            if mode == "500":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"internal_error")
                return
            stub.accepted.append(text)
            with contextlib.suppress(OSError):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    watchdog = threading.Timer(lifetime_s, server.shutdown)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield stub
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()


@dataclass
class MlflowServer:
    url: str
    process: subprocess.Popen
    log: Path


@contextlib.contextmanager
def mlflow_server(root: Path, startup_s: float = 180) -> Iterator[MlflowServer]:
    """`mlflow server` on a free loopback port: SQLite backend and served artifacts under `root`.

    Artifacts go through the server (mlflow-artifacts:/), so a proxy in front of it cuts the
    registry and the model files alike.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "mlflow-server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "served-artifacts"),
        "--workers",
        "1",
        # The proxy in front presents its own port in the Host header.
        "--allowed-hosts",
        "127.0.0.1:*,localhost:*",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | MLFLOW_SERVER_ENV
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url) or process.poll() is not None, startup_s, f"mlflow server on {url}", 0.3)
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited {process.returncode}: {log.read_text()[-2000:]}")
        yield MlflowServer(url, process, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


_CHILD_DAG_RUN = """
import json, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
dag_id, logical_date, conf = sys.argv[1], datetime.fromisoformat(sys.argv[2]), json.loads(sys.argv[3])
bag = DagBag(dag_folder=sys.argv[4])
assert bag.import_errors == {}, bag.import_errors
bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
"""


def start_dag_run_process(dag_id: str, logical_date, conf: dict | None = None, log: Path | None = None):
    """`dag.test` of one DAG run in a child process (same environment, same metadata DB), so a
    test can SIGKILL the worker in the middle of a task."""
    sink = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD_DAG_RUN,
            dag_id,
            logical_date.isoformat(),
            json.dumps(conf or {}),
            str(REPO / "dags"),
        ],
        env=os.environ.copy(),
        stdout=sink,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def sigkill_when(process: subprocess.Popen, predicate: Callable[[], bool], timeout_s: float = 120) -> None:
    """SIGKILL the child as soon as `predicate` holds (polled), as an OOM killer or a lost node would."""
    wait_until(lambda: process.poll() is not None or predicate(), timeout_s, "the moment to kill the task", 0.05)
    if process.poll() is not None:
        raise AssertionError(f"the task process ended (exit {process.returncode}) before the kill point")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def task_state(dag_id: str, task_id: str, run_id: str | None = None, started_after=None) -> str | None:
    """The newest state of a task instance in the metadata DB (of one run, or started after a
    moment), or None before it exists."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id)
        if started_after is not None:
            query = query.filter(TaskInstance.start_date > started_after)
        ti = (
            (query.filter_by(run_id=run_id) if run_id else query)
            .order_by(TaskInstance.start_date.desc().nulls_last())
            .first()
        )
        return str(ti.state) if ti is not None and ti.state is not None else None


def _set_immutable(path: Path, on: bool) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    result = subprocess.run([chattr, "-R", "+i" if on else "-i", str(path)], capture_output=True)
    return result.returncode == 0


def _writable(folder: Path) -> bool:
    probe = folder / ".write-probe"
    try:
        probe.write_text("x")
    except OSError:
        return False
    probe.unlink()
    return True


@contextlib.contextmanager
def read_only_tree(root: Path) -> Iterator[Path]:
    """Make a folder tree unwritable for this process: permissions for a normal user; for root,
    who ignores permissions, the immutable attribute. Raises RuntimeError if neither works."""
    root.mkdir(parents=True, exist_ok=True)
    modes = {p: p.stat().st_mode for p in [root, *root.rglob("*")]}
    for path, mode in modes.items():
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    immutable = os.geteuid() == 0 and _set_immutable(root, True)
    try:
        if _writable(root):
            raise RuntimeError(f"could not make {root} read-only here (root without chattr?)")
        yield root
    finally:
        if immutable:
            _set_immutable(root, False)
        for path, mode in modes.items():
            with contextlib.suppress(OSError):
                path.chmod(mode)


def limit_file_size(max_bytes: int) -> Callable[[], None]:
    """A `preexec_fn` for a child process on a 'full' disk: writing past `max_bytes` in any one
    file fails with EFBIG (OSError) instead of killing the process with SIGXFSZ."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


DISK_FULL_ERRNOS = {errno.EFBIG, errno.ENOSPC}


class Pristine:
    """A folder built once (a warehouse, an MLflow store with a champion, artifacts) and put back
    exactly before each test, at the same path, so absolute artifact URIs stay valid.

    Files are rewritten in place (same inode), and every SQLAlchemy engine this process holds on
    a database in the folder (MLflow caches its engines) is disposed first: a pooled SQLite
    connection trusts its page cache while the file's change counter matches the one it last
    saw, which a restored file plus a child process's writes can reproduce by chance.
    """

    def __init__(self, live: Path):
        self.live = live
        self.copy = live.with_name(live.name + ".pristine")

    def save(self) -> None:
        shutil.rmtree(self.copy, ignore_errors=True)
        shutil.copytree(self.live, self.copy, symlinks=True)

    def restore(self) -> None:
        self._dispose_engines()
        if os.geteuid() == 0:
            _set_immutable(self.live, False)
        for path in sorted(self.live.rglob("*"), reverse=True):
            if not (self.copy / path.relative_to(self.live)).exists():
                path.unlink() if path.is_file() or path.is_symlink() else shutil.rmtree(path)
        for source in sorted(self.copy.rglob("*")):
            target = self.live / source.relative_to(self.copy)
            if source.is_dir():
                target.mkdir(exist_ok=True)
                target.chmod(source.stat().st_mode)
            else:
                shutil.copyfile(source, target)
                target.chmod(source.stat().st_mode)

    def _dispose_engines(self) -> None:
        import gc

        from sqlalchemy.engine import Engine

        for engine in [obj for obj in gc.get_objects() if isinstance(obj, Engine)]:
            if str(self.live) in str(engine.url.database or ""):
                engine.dispose()


def when(predicate: Callable[[], bool], action: Callable[[], None], timeout_s: float = 300) -> threading.Thread:
    """Run `action` once, as soon as `predicate` holds (polled from a daemon thread): how a test
    breaks something in the middle of a DAG run that runs in its own thread."""

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if predicate():
                    action()
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, name="fault-trigger", daemon=True)
    thread.start()
    return thread


def run_dag_marked(dag_id: str, logical_date, mark_success: str | None = None, conf: dict | None = None):
    """`dag.test` with the tasks matching `mark_success` marked done instead of run; the run id
    and the task states."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    run = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf or {}, mark_success_pattern=mark_success)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id)
        return run.run_id, {ti.task_id: str(ti.state) for ti in tis}


def run_task_again(dag_id: str, task_id: str, run_id: str) -> str:
    """Run one task of an existing DAG run again, with the XComs its upstream tasks left there,
    as an operator clearing that task would; its new state."""
    import argparse

    from airflow.cli.commands.task_command import task_test
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    args = argparse.Namespace(
        dag_id=dag_id,
        task_id=task_id,
        logical_date_or_run_id=run_id,
        map_index=-1,
        task_params=None,
        env_vars=None,
        post_mortem=False,
        bundle_name=None,
    )
    task_test(args, dag=bag.dags[dag_id])
    return str(task_state(dag_id, task_id, run_id))


def model_aliases(name: str = "churn") -> dict[str, str]:
    """The registered model's aliases, from the tracking URI the pipeline uses."""
    from mlflow.tracking import MlflowClient

    from include.retraining.common import load_settings

    uri = os.environ.get("MLFLOW_TRACKING_URI") or load_settings().tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def recorded_alerts(kind: str | None = None) -> list[dict]:
    """The alerts in the pipeline's outbox, oldest first, optionally of one kind."""
    from include.orchestration.alerting import alert_outbox
    from include.retraining.alerts import read_alerts

    alerts = read_alerts(alert_outbox())
    return [a for a in alerts if kind is None or a.get("kind") == kind]
