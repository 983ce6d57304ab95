"""An artifact root that cannot be written (read-only mount, full volume): the writing task fails
and alerts once, nothing half-written is left for a rerun to trust, and the rerun after the
volume is fixed completes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.reliability.world import NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import DISK_FULL_ERRNOS, limit_file_size, model_aliases, read_only_tree, recorded_alerts

pytestmark = pytest.mark.reliability


def _parquet(world: World) -> set[str]:
    # Snapshots only: validate also caches the champion's reference sample under reference/.
    return {str(p) for p in world.artifact_root.rglob("*.parquet") if "reference" not in p.parts}


def test_read_only_artifact_root_fails_the_extract_with_one_alert(world: World) -> None:
    before = _parquet(world)

    with read_only_tree(world.artifact_root):
        states = run_dag("retrain_churn", NEXT_RUN)

    assert states["extract"] == "failed" and states["promote"] == "upstream_failed"
    assert model_aliases() == {"champion": "1"}
    assert _parquet(world) == before and not list(world.artifact_root.rglob("*.tmp"))
    (alert,) = recorded_alerts()
    assert alert["kind"] == "task_failed" and "extract" in alert["title"]

    again = run_dag("retrain_churn", NEXT_RUN)

    assert again["promote"] in ("success", "skipped") and "failed" not in again.values()
    assert len(_parquet(world)) == len(before) + 1


# The extract step alone, in a child whose file-size limit stands for a full volume: the
# snapshot write fails, and neither the final file nor a temporary one is left behind.
_EXTRACT_IN_CHILD = """
import sys
from datetime import datetime
from include.orchestration.dagfiles import model_configs
from include.retraining.common import load_settings
from include.retraining.retrain import extract
from include.retraining.runs import RunInfo, StepContext
from include.retraining.warehouse import Warehouse

(config,), _ = model_configs()
run = RunInfo(dag_id="retrain_churn", run_id="full-disk", window_end=datetime.fromisoformat(sys.argv[1]))
try:
    extract(StepContext.create(config, load_settings(), run, Warehouse(sys.argv[2])))
except OSError as exc:
    print(exc)
    sys.exit(exc.errno)
"""


def test_full_artifact_root_leaves_no_partial_snapshot(world: World) -> None:
    before = _parquet(world)
    command = [sys.executable, "-c", _EXTRACT_IN_CHILD, NEXT_RUN.isoformat(), world.warehouse_url]

    full = subprocess.run(command, preexec_fn=limit_file_size(16_384), capture_output=True, text=True)

    assert full.returncode in DISK_FULL_ERRNOS, full.stdout + full.stderr[-2000:]
    assert _parquet(world) == before and not list(world.artifact_root.rglob("*.tmp"))

    extracted = _extract_here(world)

    assert extracted.rows > 0 and len(_parquet(world)) == len(before) + 1


def _extract_here(world: World):
    """The same step in this process, once the volume has room again."""
    from include.orchestration.dagfiles import model_configs
    from include.retraining.common import load_settings
    from include.retraining.retrain import extract
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Warehouse

    (config,), _ = model_configs()
    run = RunInfo(dag_id="retrain_churn", run_id="disk-fixed", window_end=NEXT_RUN)
    return extract(StepContext.create(config, load_settings(), run, Warehouse(world.warehouse_url)))
