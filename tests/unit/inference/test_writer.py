"""The inference log's writer: batches, its bound (drop and count, never block), retries, and
the flush at shutdown, against a fake sink and real SQLite and PostgreSQL predictions tables."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from include.retraining.common import Window
from include.retraining.inference import Answer, InferenceLog, PredictionAppender, answer_rows
from include.retraining.predictions import grant_predictions_append, replace_interval
from include.retraining.score.scoring import Stamp, prediction_rows
from include.retraining.tables import upgrade_schema
from include.retraining.warehouse import Database, WarehouseError
from tests.support import fresh_postgres_databases, select_only_role

pytestmark = pytest.mark.unit

TABLE = "churn_predictions"
PASSWORD = "serving-pw"


def _answer(n: int = 1, request_id: str = "r", version: str = "1") -> Answer:
    frame = pd.DataFrame({"customer_id": [f"{request_id}-{i}" for i in range(n)], "tenure": np.arange(n)})
    return Answer("churn", version, "champion", request_id, datetime(2026, 12, 7, 12), frame, np.full(n, 0.25))


def _shape(answers: list[Answer]) -> dict[str, list]:
    return answer_rows(answers, ["tenure"], "customer_id", None)


class _Sink:
    """Records each batch; fails the first `failures` writes; `gate` holds every write until set."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[dict[str, list]] = []
        self.failures = failures
        self.gate = threading.Event()
        self.gate.set()

    def append(self, rows: dict[str, list]) -> None:
        self.gate.wait(10)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database went away")
        self.batches.append(rows)


def _wait(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_rows_are_written_in_batches_once_batch_rows_wait_without_waiting_for_the_timer() -> None:
    sink = _Sink()
    writer = InferenceLog(sink.append, _shape, batch_rows=100, flush_seconds=60)
    writer.start()

    for i in range(250):
        writer.submit(_answer(request_id=f"r{i}"))
    _wait(lambda: writer.counts().written >= 200)
    counts = writer.close()

    assert [len(b["id"]) for b in sink.batches] == [100, 100, 50]
    assert counts.written == 250 and counts.backlog == 0 and counts.dropped == 0


def test_the_timer_writes_a_small_batch() -> None:
    sink = _Sink()
    writer = InferenceLog(sink.append, _shape, batch_rows=1000, flush_seconds=0.05)
    writer.start()

    writer.submit(_answer(3))
    _wait(lambda: writer.counts().written == 3)

    assert writer.close().written == 3


def test_a_full_queue_drops_and_counts_rows_and_never_blocks_the_caller() -> None:
    sink = _Sink()
    sink.gate.clear()  # the database hangs
    writer = InferenceLog(sink.append, _shape, capacity=10, batch_rows=4, flush_seconds=0.01)
    writer.start()

    started = time.perf_counter()
    accepted = [writer.submit(_answer(request_id=f"r{i}")) for i in range(15)]
    refused_big = writer.submit(_answer(11))  # more rows than the whole queue holds
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5 and accepted.count(True) == 10 and not refused_big
    assert writer.counts().dropped == 5 + 11 and writer.counts().backlog == 10
    sink.gate.set()
    counts = writer.close()
    assert counts.written == 10 and counts.dropped == 16 and counts.backlog == 0


def test_a_failed_write_is_retried_and_loses_nothing() -> None:
    sink = _Sink(failures=2)
    writer = InferenceLog(sink.append, _shape, batch_rows=5, flush_seconds=0.01, retry_seconds=0.01)
    writer.start()

    for i in range(12):
        writer.submit(_answer(request_id=f"r{i}"))
    _wait(lambda: writer.counts().written == 12)
    counts = writer.close()

    assert counts.failed_writes == 2 and counts.dropped == 0
    ids = [id_ for batch in sink.batches for id_ in batch["id"]]
    assert ids == [f"r{i}-0" for i in range(12)]  # in order, each once


def test_shutdown_counts_what_a_dead_database_kept_as_dropped() -> None:
    sink = _Sink(failures=1_000)
    writer = InferenceLog(sink.append, _shape, flush_seconds=0.01, retry_seconds=0.01)
    writer.start()
    writer.submit(_answer(7))

    counts = writer.close(timeout=0.2)

    assert counts.written == 0 and counts.dropped == 7 and counts.backlog == 0


def _table_rows(db: Database) -> pd.DataFrame:
    with db.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {TABLE} ORDER BY run_id, id"), conn)


def _flushed_on_close(db: Database, answers: int, rows_each: int) -> pd.DataFrame:
    appender = PredictionAppender(db, TABLE)
    writer = InferenceLog(appender.append, _shape, batch_rows=10_000, flush_seconds=60)  # only close writes
    writer.start()
    for i in range(answers):
        writer.submit(_answer(rows_each, request_id=f"r{i:04d}", version=str(1 + i % 2)))
    counts = writer.close()
    appender.close()
    assert counts.written == answers * rows_each and counts.dropped == 0
    return _table_rows(db)


def test_close_flushes_the_queue_into_a_sqlite_predictions_table(tmp_path: Path) -> None:
    rows = _flushed_on_close(Database(f"sqlite:///{tmp_path / 'pipeline.db'}"), answers=30, rows_each=2)

    assert len(rows) == 60 and set(rows["source"]) == {"rest"} and rows["superseded_at"].isna().all()
    assert rows.groupby("model_version").size().to_dict() == {"1": 30, "2": 30}


def test_close_flushes_the_queue_into_a_postgres_predictions_table() -> None:
    with fresh_postgres_databases("inference_log") as (url,):
        db = Database(url)
        rows = _flushed_on_close(db, answers=500, rows_each=2)

        assert len(rows) == 1000 and set(rows["source"]) == {"rest"}
        assert rows["id"].is_unique and rows.groupby("model_version").size().to_dict() == {"1": 500, "2": 500}
        assert rows["features"].str.startswith('{"tenure":').all()


def test_a_batch_rescore_on_postgres_supersedes_its_own_rows_never_the_rest_answers() -> None:
    with fresh_postgres_databases("inference_log") as (url,):
        db = Database(url)
        rest = _flushed_on_close(db, answers=3, rows_each=1)
        interval = Window(datetime(2026, 12, 7, 11, tzinfo=UTC), datetime(2026, 12, 7, 13, tzinfo=UTC))
        source = pd.DataFrame({"customer_id": rest["id"], "snapshot_at": rest["event_time"]})  # the same ids and times
        for version in ("1", "2"):
            stamp = Stamp("churn", version, "champion", interval, datetime.now(UTC), f"run-{version}")
            replace_interval(
                db,
                TABLE,
                prediction_rows(source, np.full(3, 0.5), "customer_id", "snapshot_at", stamp),
                "churn",
                interval,
            )

        rows = _table_rows(db)
        live = rows[rows["superseded_at"].isna()]
        assert sorted(live.groupby(["source", "model_version"]).size().items()) == [
            (("batch", "2"), 3),
            (("rest", "1"), 2),
            (("rest", "2"), 1),
        ]
        assert set(rows.loc[rows["superseded_at"].notna(), "source"]) == {"batch"}


def test_an_answer_that_cannot_be_shaped_is_dropped_and_counted_and_the_others_written() -> None:
    sink = _Sink()

    def shape(answers: list[Answer]) -> dict[str, list]:
        if any(answer.request_id == "bad" for answer in answers):
            raise ValueError("a bug in the row shaping")
        return _shape(answers)

    writer = InferenceLog(sink.append, shape, flush_seconds=60)
    for request_id in ("r1", "bad", "r2"):
        writer.submit(_answer(2, request_id=request_id))

    counts = writer.close()  # never started: close writes on this thread

    assert (counts.written, counts.dropped, counts.backlog) == (4, 2, 0)
    assert [id_ for batch in sink.batches for id_ in batch["id"]] == ["r1-0", "r1-1", "r2-0", "r2-1"]


def test_an_insert_only_role_appends_answers_and_can_read_or_change_nothing() -> None:
    """The REST server's own database user (compose: SERVING_DB_USER): the pipeline grants it
    INSERT on the predictions table it wrote, and that is all it can do."""
    with fresh_postgres_databases("inference_log") as (url,):
        owner = Database(url)
        interval = Window(datetime(2026, 12, 7, 11, tzinfo=UTC), datetime(2026, 12, 7, 13, tzinfo=UTC))
        source = pd.DataFrame({"customer_id": ["a"], "snapshot_at": [datetime(2026, 12, 7, 12)]})
        stamp = Stamp("churn", "1", "champion", interval, datetime.now(UTC), "run-1")
        batch = prediction_rows(source, np.full(1, 0.5), "customer_id", "snapshot_at", stamp)
        replace_interval(owner, TABLE, batch, "churn", interval)
        upgrade_schema(owner)  # the promotion log and the others, beside it
        with select_only_role(url, TABLE, PASSWORD) as role:
            with owner.engine() as engine, engine.begin() as conn:
                conn.execute(sa.text(f'REVOKE SELECT ON {TABLE} FROM "{role}"'))
            grant_predictions_append(owner, TABLE, role)
            grant_predictions_append(owner, TABLE, role)  # every score run grants again
            server = Database(sa.engine.make_url(url).set(username=role, password=PASSWORD).render_as_string(False))

            appender = PredictionAppender(server, TABLE)
            appender.append(_shape([_answer(3, request_id="rest")]))
            appender.close()

            for statement in (
                f"SELECT count(*) FROM {TABLE}",
                f"DELETE FROM {TABLE}",
                f"UPDATE {TABLE} SET score = 0",
                "SELECT count(*) FROM model_promotions",
                "INSERT INTO model_promotions (model) VALUES ('churn')",
            ):
                denied = pytest.raises(sa.exc.ProgrammingError, match="permission denied")
                with denied, server.engine() as engine, engine.begin() as conn:
                    conn.execute(sa.text(statement))
        rows = _table_rows(owner)
        assert sorted(rows.groupby("source").size().items()) == [("batch", 1), ("rest", 3)]


def test_an_append_grant_on_a_database_without_roles_names_the_fix(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'pipeline.db'}")

    with pytest.raises(WarehouseError, match="RETRAINING_SERVING_DB_ROLE='serving' .* unset it and grant"):
        grant_predictions_append(db, TABLE, "serving")
