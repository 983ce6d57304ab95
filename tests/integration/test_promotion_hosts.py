"""Promotion across hosts that share no folder (issue 23): two movers, each with a data directory of
its own ("host A", "host B"), one PostgreSQL pipeline database and one MLflow tracking server. The
promotion lock is a named lock in that database, so the movers take turns although no file is
common to them: exactly one alias move per decision, one log row per move; and a mover SIGKILLed
between its log row and the alias move on host B is completed by the next mover on host A.

A mover is the real promote step (`apply_decision`: lock, reconcile, compare-and-set, log row,
alias move) in a process of its own, on versions registered for the test. It can stop at the alias
move, its row written, until the test says "go" or kills it: the one point a test needs to hold
still, reached without a clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from include.retraining.locking import lock_key
from include.retraining.tracking import DECISION_TAG
from include.retraining.warehouse import Database
from tests.support import REPO, fresh_postgres_databases
from tests.support_faults import mlflow_server, wait_until

pytestmark = pytest.mark.integration

# argv: data dir, pipeline database URL, version to promote, the champion it was evaluated against,
# "pause" to stop at the alias move, the tracking URI. Prints "ready" once loaded and waits for
# "start" (so a test starts its movers together and lets each go in its own order), "at alias move"
# where it stops, then a JSON line of the outcome.
_MOVER = """
import json, sys
from datetime import UTC, datetime
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.promotion import Evaluated, apply_decision
from include.retraining.runs import RunInfo, StepContext
from include.retraining.tables import upgrade_schema
from include.retraining.tracking import Registry, Tracker
from include.retraining.warehouse import Database

data_dir, url, version, evaluated_against, pause = sys.argv[1:6]

class Stoppable(Registry):
    def promote(self, version, tags):
        if pause == "pause":
            print("at alias move", flush=True)
            if sys.stdin.readline().strip() != "go":
                raise SystemExit("told to stop")
        return super().promote(version, tags)

settings = load_settings({"RETRAINING_DATA_DIR": data_dir, "MLFLOW_TRACKING_URI": sys.argv[6]})
config = load_model_config(settings.models_dir / "churn.yaml")
tracker = Tracker(settings, trusted_types=())
db = Database(url)
upgrade_schema(db)
print("ready", flush=True)
if sys.stdin.readline().strip() != "start":
    raise SystemExit("told to stop")
window_end = datetime(2026, 3, 1, tzinfo=UTC)
run = RunInfo("retrain_churn", f"backfill__v{version}", window_end, trigger="backfill")
ctx = StepContext(config, settings, run, tracker, Stoppable(tracker, "churn"), pipeline_db=db)
evaluated = Evaluated(evaluated_against, True, "better on the holdout", "roc_auc", 0.81, 0.78)
applied = apply_decision(ctx, evaluated, version, window_end, {})
print(json.dumps({
    "promoted": applied.promotion.version if applied.promotion else None,
    "refused": applied.refused,
    "reconciled": applied.reconciled.outcome.value,
}), flush=True)
"""


@dataclass
class Hosts:
    """Two data directories that share nothing, and the stores both reach."""

    a: Path
    b: Path
    pipeline_url: str
    tracking_uri: str

    def mover(self, data_dir: Path, version: str, evaluated_against: str, pause: bool = False) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AIRFLOW_CONN_"))}
        return subprocess.Popen(
            [sys.executable, "-c", _MOVER, str(data_dir), self.pipeline_url, version, evaluated_against]
            + ["pause" if pause else "run", self.tracking_uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server.url


@pytest.fixture
def hosts(tmp_path: Path, tracking_uri: str) -> Iterator[Hosts]:
    """Model `churn` (a fresh name per test on the one server) with versions 1..3, 1 champion."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for version in client.search_model_versions("name = 'churn'"):
        client.delete_model_version("churn", version.version)
    if client.search_registered_models("name = 'churn'"):
        client.delete_registered_model("churn")
    experiment = client.get_experiment_by_name("hosts") or client.create_experiment("hosts")
    experiment_id = experiment if isinstance(experiment, str) else experiment.experiment_id
    client.create_registered_model("churn")
    for _ in range(3):
        run = client.create_run(experiment_id)
        client.create_model_version("churn", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("churn", "champion", "1")
    with fresh_postgres_databases("retraining_hosts") as (url,):
        yield Hosts(tmp_path / "host-a", tmp_path / "host-b", url, tracking_uri)


def _say(mover: subprocess.Popen, word: str) -> None:
    mover.stdin.write(f"{word}\n")
    mover.stdin.flush()


def _expect(mover: subprocess.Popen, line: str) -> None:
    said = mover.stdout.readline().strip()
    assert said == line, f"the mover said {said!r}, not {line!r}: {mover.stderr.read()[-3000:]}"


def _outcome(mover: subprocess.Popen) -> dict:
    out, err = mover.communicate(timeout=120)
    assert mover.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _waiting_for_promotion_lock(url: str) -> bool:
    """Whether a session of the pipeline database waits for churn's promotion lock (pg_locks)."""
    import sqlalchemy as sa

    key = lock_key("promotion/churn") & 0xFFFFFFFFFFFFFFFF
    query = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = :high "
        "AND objid = :low AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with Database(url).engine() as engine, engine.connect() as conn:
        return conn.execute(sa.text(query), {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar_one() > 0


def _state(hosts: Hosts) -> tuple[dict[str, str], list[tuple[str | None, str]], dict[str, dict[str, str]]]:
    """Aliases, the log's moves (from, to) oldest first, and each version's tags."""
    from mlflow.tracking import MlflowClient

    from include.retraining.tables import history

    client = MlflowClient(tracking_uri=hosts.tracking_uri, registry_uri=hosts.tracking_uri)
    aliases = {alias: str(v) for alias, v in client.get_registered_model("churn").aliases.items()}
    moves = [(row.from_version, row.to_version) for row in reversed(history(Database(hosts.pipeline_url), "churn"))]
    tags = {v: dict(client.get_model_version("churn", v).tags) for v in ("1", "2", "3")}
    return aliases, moves, tags


def test_two_hosts_promoting_at_once_take_turns_and_move_the_alias_once(hosts: Hosts) -> None:
    # Both evaluated against champion 1. A stops inside the lock, its row written, before its move.
    mover_a, mover_b = hosts.mover(hosts.a, "2", "1", pause=True), hosts.mover(hosts.b, "3", "1")
    _expect(mover_a, "ready")
    _expect(mover_b, "ready")
    _say(mover_a, "start")
    _expect(mover_a, "at alias move")
    _say(mover_b, "start")
    # B shares no folder with A: only the database can keep it out. It must be waiting there.
    wait_until(
        lambda: mover_b.poll() is not None or _waiting_for_promotion_lock(hosts.pipeline_url),
        120,
        "host B's mover to wait for the promotion lock",
    )
    b_waited = mover_b.poll() is None
    _say(mover_a, "go")
    a, b = _outcome(mover_a), _outcome(mover_b)

    aliases, moves, tags = _state(hosts)
    assert b_waited, "host B's mover went through while host A's held the promotion lock"
    assert a["promoted"] == "2" and b["promoted"] is None
    assert "changed from version 1 to 2" in b["refused"], "B's decision was made against a replaced champion"
    assert aliases == {"champion": "2", "previous_champion": "1"}
    assert moves == [("1", "2")], "one log row for the one move"
    assert DECISION_TAG not in tags["3"] and tags["2"][DECISION_TAG] == "promote"


def test_a_mover_killed_between_its_log_row_and_the_alias_move_on_host_b_is_completed_on_host_a(
    hosts: Hosts,
) -> None:
    mover_b, mover_a = hosts.mover(hosts.b, "2", "1", pause=True), hosts.mover(hosts.a, "3", "1")
    _expect(mover_b, "ready")
    _say(mover_b, "start")
    _expect(mover_b, "at alias move")
    mover_b.send_signal(signal.SIGKILL)  # the worker dies with the promotion lock held
    mover_b.wait(timeout=30)
    aliases, moves, _ = _state(hosts)
    assert aliases == {"champion": "1"} and moves == [("1", "2")], "killed after its row, before the move"

    _expect(mover_a, "ready")
    _say(mover_a, "start")
    a = _outcome(mover_a)

    aliases, moves, tags = _state(hosts)
    assert a["reconciled"] == "completed", "host A's mover completes the move host B recorded"
    assert aliases == {"champion": "2", "previous_champion": "1"}
    assert moves == [("1", "2")], "completed, not recorded twice"
    assert a["promoted"] is None and "changed from version 1 to 2" in a["refused"]
    assert DECISION_TAG not in tags["3"]
