"""The fault injectors themselves: each one breaks what it says, so a fault test that passes
means the pipeline coped, not that the fault never happened."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support_faults import DISK_FULL_ERRNOS, TcpProxy, limit_file_size, read_only_tree, slack_stub, wait_until

pytestmark = pytest.mark.reliability


@pytest.fixture
def echo_server():
    """A loopback TCP echo server that answers each chunk with 100 bytes per byte received."""
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(4096):
                conn.sendall(data * 100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(timeout=2)


def _talk(port: int, payload: bytes, expect: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(payload)
        received = b""
        while len(received) < expect:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_proxy_forwards_then_cuts_mid_conversation_and_refuses_after(echo_server: int) -> None:
    with TcpProxy("127.0.0.1", echo_server) as proxy:
        assert _talk(proxy.port, b"ab", 200) == b"ab" * 100

        proxy.cut_when(client_sends=b"QUERY")
        with pytest.raises(OSError):
            _talk(proxy.port, b"QUERY", 500)  # reset or closed before any answer
        assert proxy.cuts == 1 and proxy.mode == "refuse" and not proxy.armed
        with pytest.raises(OSError):
            _talk(proxy.port, b"x", 100)

        proxy.set_mode("pass")
        assert _talk(proxy.port, b"z", 100) == b"z" * 100


def test_proxy_stall_never_answers(echo_server: int) -> None:
    with TcpProxy("127.0.0.1", echo_server) as proxy:
        proxy.set_mode("stall")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5) as conn:
            conn.sendall(b"hello")
            with pytest.raises(TimeoutError):
                conn.recv(10)


def _post(url: str, text: str, timeout: float = 1.0) -> int:
    request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def test_slack_stub_answers_ok_500_and_too_late_and_counts_posts() -> None:
    with slack_stub() as slack:
        assert _post(slack.url, "one") == 200
        slack.mode = "500"
        with pytest.raises(urllib.error.HTTPError, match="500"):
            _post(slack.url, "two")
        slack.mode, slack.stall_s = "timeout", 1.5
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _post(slack.url, "three", timeout=0.3)
        wait_until(lambda: len(slack.accepted) == 2, 5, "the late answer")

    assert slack.attempts == ["one", "two", "three"]
    assert slack.accepted == ["one", "three"], "a timed-out post may still have reached Slack"


def test_read_only_tree_refuses_writes_and_is_restored(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    (root / "churn").mkdir(parents=True)

    with read_only_tree(root), pytest.raises(OSError):
        (root / "churn" / "x.parquet").write_bytes(b"x")

    (root / "churn" / "x.parquet").write_bytes(b"x")


def test_file_size_limit_makes_a_large_write_fail_with_efbig(tmp_path: Path) -> None:
    script = f"""
import errno, sys
try:
    open({str(tmp_path / "big")!r}, 'wb').write(b'x' * 100_000)
except OSError as exc:
    sys.exit(exc.errno)
"""
    done = subprocess.run([sys.executable, "-c", script], preexec_fn=limit_file_size(10_000))

    assert done.returncode in DISK_FULL_ERRNOS
