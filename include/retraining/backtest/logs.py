"""Where a backtest's noise goes: what the steps and their libraries (MLflow, GX, Evidently,
Airflow's log handlers) print or log while the runs replay goes to a log file in the output
folder, so stderr carries the progress lines alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

LOG = "backtest.log"


@contextmanager
def library_logs_to(path: Path) -> Iterator[TextIO]:
    """Redirect file descriptors 1 and 2 to `path` (appended) while inside, whatever stream objects
    the libraries hold; yield a stream on the terminal's stderr for the progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield terminal
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])
        terminal.close()
