"""The backtest's library output goes to its log file; progress stays on the terminal's stderr.

In a process of its own: pytest's capture replaces sys.stderr with an object that is not fd 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

SCRIPT = """
import logging, os, sys
from pathlib import Path
from include.retraining.backtest import library_logs_to

handler = logging.StreamHandler(sys.stderr)  # a handler that took the stream before, like Airflow's
logging.getLogger("a.library").addHandler(handler)
with library_logs_to(Path(sys.argv[1])) as terminal:
    os.write(1, b"a library writes to fd 1\\n")
    print("a library prints", file=sys.stderr, flush=True)
    logging.getLogger("a.library").warning("a library logs")
    print("window 1/1 ending ...", file=terminal)
print("after", file=sys.stderr)
"""


def test_what_the_libraries_print_or_log_goes_to_the_file_and_progress_to_stderr(tmp_path: Path) -> None:
    log = tmp_path / "out" / "backtest.log"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log)], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    assert (done.stdout, done.stderr) == ("", "window 1/1 ending ...\nafter\n")
    assert log.read_text().splitlines() == ["a library writes to fd 1", "a library prints", "a library logs"]
