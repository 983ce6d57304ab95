"""The inference log's writer: answers queued by the request threads, written by one background
thread in batches, so a request never waits on the database.

The queue is bounded in rows (`capacity`): when the database is slow or down and the queue is
full, a new answer's rows are dropped and counted (and logged), never blocking or failing the
request. The thread writes every `flush_seconds`, or as soon as `batch_rows` rows wait. A batch
that fails to write is kept and retried (the rows it holds still count against the bound), so a
database outage loses nothing until the queue fills. `close` writes what is queued, within a
deadline; what it cannot write is counted as dropped and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from include.retraining.inference.rows import Answer

log = logging.getLogger(__name__)

Columns = dict[str, list[Any]]  # rows as columns, as `answer_rows` shapes them
Append = Callable[[Columns], None]
Shape = Callable[[list[Answer]], Columns]
# A database that fails every write is reported at most this often in the log.
_REPORT_EVERY_S = 30.0


@dataclass(frozen=True)
class LogCounts:
    """Rows waiting (queued or in a batch being written), written, and dropped since the start."""

    backlog: int
    written: int
    dropped: int
    failed_writes: int


class InferenceLog:
    def __init__(
        self,
        append: Append,
        shape: Shape,
        *,
        capacity: int = 100_000,
        batch_rows: int = 5_000,
        flush_seconds: float = 0.2,
        retry_seconds: float = 1.0,
        release: Callable[[], None] | None = None,
        close_seconds: float = 10.0,
    ) -> None:
        """`append` writes rows in one transaction; `shape` turns an answer into rows; `release`
        (e.g. closing the database connection) runs once `close` has written what it could, for at
        most `close_seconds`."""
        if capacity < 1 or batch_rows < 1 or flush_seconds <= 0:
            raise ValueError("the inference log needs capacity and batch_rows of 1 or more and flush_seconds > 0")
        self._append, self._shape, self._release = append, shape, release
        self.capacity, self.batch_rows = capacity, batch_rows
        self.flush_seconds, self.retry_seconds, self.close_seconds = flush_seconds, retry_seconds, close_seconds
        self._queue: deque[Answer] = deque()
        self._queued = self._in_flight = self._written = self._dropped = self._failed = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._close_deadline = 0.0
        self._last_report = 0.0
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, answer: Answer) -> bool:
        """Queue an answer's rows; False (and counted as dropped) when the queue has no room."""
        with self._wake:
            if self._queued + self._in_flight + answer.rows > self.capacity:
                self._dropped += answer.rows
                self._report(f"the queue is full ({self.capacity} rows): request {answer.request_id} not logged")
                return False
            self._queue.append(answer)
            self._queued += answer.rows
            if self._queued >= self.batch_rows:
                self._wake.notify()
        return True

    def counts(self) -> LogCounts:
        with self._wake:
            return LogCounts(self._queued + self._in_flight, self._written, self._dropped, self._failed)

    def close(self, timeout: float | None = None) -> LogCounts:
        """Stop taking answers' rows off the queue once it is written (or `timeout`, default
        `close_seconds`, passed); what is left is counted as dropped."""
        timeout = self.close_seconds if timeout is None else timeout
        with self._wake:
            self._stopping = True
            self._close_deadline = time.monotonic() + timeout
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout + 1.0)
        else:  # never started: write what was queued on this thread
            self._drain(self._close_deadline)
        with self._wake:
            # A write still hanging past the deadline keeps its rows in flight; the queue is dropped.
            left = self._queued + (0 if self._thread.is_alive() else self._in_flight)
            if left:
                log.error("inference log: %d row(s) could not be written before shutdown", left)
                self._dropped += left
                self._in_flight = self._in_flight if self._thread.is_alive() else 0
                self._queued = 0
                self._queue.clear()
        if self._release is not None:
            self._release()
        return self.counts()

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._stopping and self._queued < self.batch_rows:
                    self._wake.wait(self.flush_seconds)
                stopping = self._stopping
            if stopping:
                self._drain(self._close_deadline)
                return
            self._write_batch()

    def _drain(self, deadline: float) -> None:
        while self.counts().backlog and time.monotonic() < deadline:
            if not self._write_batch():
                time.sleep(min(self.retry_seconds, max(0.0, deadline - time.monotonic())))

    def _take(self) -> list[Answer]:
        with self._wake:
            batch, rows = [], 0
            while self._queue and (not batch or rows + self._queue[0].rows <= self.batch_rows):
                answer = self._queue.popleft()
                batch.append(answer)
                rows += answer.rows
            self._queued -= rows
            self._in_flight += rows
            return batch

    def _write_batch(self) -> bool:
        """Write one batch; False when the database refused it (it stays queued, first in line)."""
        batch, shaped = self._shaped(self._take())
        if not batch:
            return True
        rows = sum(a.rows for a in batch)
        try:
            self._append(shaped)
        except Exception as exc:  # noqa: BLE001 - any database fault: keep the rows, retry later
            with self._wake:
                self._failed += 1
                self._in_flight -= rows
                self._queued += rows
                self._queue.extendleft(reversed(batch))
                self._report(f"writing {rows} row(s) failed ({type(exc).__name__}: {str(exc)[:200]}); retrying")
            if not self._stopping:
                time.sleep(self.retry_seconds)
            return False
        with self._wake:
            self._in_flight -= rows
            self._written += rows
        return True

    def _shaped(self, batch: list[Answer]) -> tuple[list[Answer], Columns]:
        """The answers of a batch that could be shaped, and their rows, shaped together; when that
        fails, one by one: an answer that cannot be shaped (a bug, not the database's fault:
        retrying would not help) is dropped, counted and logged, the others kept."""
        if not batch:
            return batch, {}
        try:
            return batch, self._shape(batch)
        except Exception:  # noqa: BLE001 - one bad answer must not stop the log: find it below
            log.warning("inference log: a batch of %d answers could not be shaped; shaping each", len(batch))
        kept: list[Answer] = []
        shaped: Columns = {}
        for answer in batch:
            try:
                for column, values in self._shape([answer]).items():
                    shaped.setdefault(column, []).extend(values)
                kept.append(answer)
            except Exception:
                log.exception("inference log: request %s could not be shaped into rows", answer.request_id)
                with self._wake:
                    self._dropped += answer.rows
                    self._in_flight -= answer.rows
        return kept, shaped

    def _report(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_report >= _REPORT_EVERY_S:
            self._last_report = now
            log.warning("inference log: %s (%d dropped so far)", message, self._dropped)
